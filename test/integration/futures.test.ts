// tsmpi/futures in real jobs (issue 21). The cases of test/fixtures/futures/cases.ts (ported from
// mpi4py's demo/futures/test_futures.py and test/test_util_pool.py, and piscina's task tests) on 1,
// 2, 3 and 4 ranks, the interleaving case with several seeds; the start-up check of the task
// registries; a worker that dies, a body that throws and a task error nobody catches, each ending the
// job rather than hanging it; and `import 'tsmpi/futures'` in every way a program meets it: a job
// bundle in script form and in module form, a program run alone under node, an installed package
// (its types too). Every job is checked to leave nothing behind.
import { spawnSync } from 'node:child_process';
import { checkPrimeSync, createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLED_LAUNCHER, checkThenNothingLeft, disposeAllJobs, fixture, linesOf, REPO, runJob, type JobOptions } from '../helpers/job.js';

const CASES = fixture('futures/cases.ts');
const MAIN_CASES = [
  'submit', 'submit-cancel', 'map', 'starmap', 'map-exception', 'map-chunksize', 'numbers', 'map-unordered', 'map-lazy', 'empty',
  'as-completed', 'wait', 'shutdown', 'initializer', 'initializer-error', 'errors', 'serialize', 'progress', 'interleavings',
  'root', 'isolation', 'sequential', 'task-registry',
];

const scratch = mkdtempSync(join(tmpdir(), 'tsmpi-futures-test-'));
afterEach(disposeAllJobs);
afterAll(async () => {
  await disposeAllJobs();
  rmSync(scratch, { recursive: true, force: true });
});

/** Runs a job, checks it, and that it left nothing behind (even when the checks fail). */
async function run(options: JobOptions, checks: (r: { code: number | null; stdout: string; stderr: string; why: string }) => void | Promise<void>) {
  const result = await runJob({ timeoutMs: 90_000, ...options });
  await checkThenNothingLeft(result, () => checks({ ...result, why: result.job.describe(result) }));
  return result;
}

/** Runs the cases on `np` ranks; expects exit 0 and exactly one OK line per case and rank. */
async function runCases(np: number, names: string[], seed = 1, launcherArgs: string[] = []): Promise<string[]> {
  let ok: string[] = [];
  await run({ np, script: CASES, args: names, env: { FUTURES_SEED: String(seed) }, launcherArgs: ['--timeout', '80', ...launcherArgs] }, ({ code, stdout, stderr, why }) => {
    expect(code, why).toBe(0);
    expect(stderr, why).toBe('');
    ok = linesOf(stdout).filter((l) => l.startsWith('OK '));
    for (const name of names) {
      for (let rank = 0; rank < np; rank++) {
        const mine = ok.filter((l) => l === `OK ${name} rank=${rank}` || l.startsWith(`OK ${name} rank=${rank} `));
        expect(mine.length, `one OK line of case ${name} on rank ${rank}\n${why}`).toBe(1);
      }
    }
    expect(linesOf(stdout).length, why).toBe(names.length * np);
  });
  return ok;
}

describe('the ported cases (mpi4py test_futures.py, test_util_pool.py; piscina)', () => {
  for (const np of [1, 2, 3, 4]) {
    it(`every case on ${np} rank(s)`, async () => {
      const ok = await runCases(np, MAIN_CASES);
      expect(ok.find((l) => l.startsWith('OK errors rank=0'))).toMatch(/kinds=\d+/);
    }, 120_000);
  }

  // Each waits out two timeouts of TIMEOUT_MS: in-process, and with several workers.
  for (const np of [1, 3]) {
    it(`map timeouts on ${np} rank(s)`, async () => {
      await runCases(np, ['map-timeout']);
    });
  }

  it('finished maps and submits leave nothing that scavenges keep, on 3 ranks', async () => {
    await runCases(3, ['scavenges'], 1, ['--node-arg=--expose-gc']);
  });

  for (const seed of [2, 3, 4, 5]) {
    it(`interleavings with seed ${seed} on ${2 + (seed % 3)} ranks`, async () => {
      await runCases(2 + (seed % 3), ['interleavings', 'as-completed', 'shutdown'], seed);
    });
  }
});

describe('failures end the job or fail every rank alike, never a hang', () => {
  const FAILURES = fixture('futures/failures.ts');

  /** `CAUGHT rank=R CODE message` lines by rank, after checking that every rank went on afterwards. */
  function caughtOnEveryRank(stdout: string, np: number, why: string): Map<number, string> {
    const lines = linesOf(stdout);
    const caught = new Map<number, string>();
    for (const l of lines) {
      const m = /^CAUGHT rank=(\d+) (.*)$/.exec(l);
      if (m) caught.set(Number(m[1]), m[2]!);
    }
    expect([...caught.keys()].sort(), why).toEqual(Array.from({ length: np }, (_, r) => r));
    expect(lines.filter((l) => l.startsWith('AFTER ')).length, why).toBe(np);
    return caught;
  }

  it.each([
    ['mismatch-missing', /^TSMPI_ERR_TASK_MISMATCH .*'extra' is registered on rank 1 but not on ranks 0, 2\b/],
    ['mismatch-source', /^TSMPI_ERR_TASK_MISMATCH .*'scale' has different source text on rank 0 and on ranks 1, 2\b/],
    ['mismatch-initializer', /^TSMPI_ERR_TASK_MISMATCH .*'\(initializer\)' has different source text on rank 0 and on ranks 1, 2\b/],
    ['initargs-unsendable', /^TSMPI_ERR_SERIALIZE .*root's initargs cannot be sent to the workers: cannot serialize a function at initargs\[0\]/],
  ])('%s: withExecutor fails on every rank, before any work, and every rank goes on', async (mode, message) => {
    await run({ np: 3, script: FAILURES, args: [mode] }, ({ code, stdout, stderr, why }) => {
      expect(code, why).toBe(0);
      expect(stderr, why).toBe('');
      for (const [, text] of caughtOnEveryRank(stdout, 3, why)) expect(text, why).toMatch(message);
    });
  });

  it('a worker that dies ends the job with its exit code', async () => {
    await run({ np: 3, script: FAILURES, args: ['worker-dies'] }, ({ code, stdout, stderr, why }) => {
      expect(code, why).toBe(3);
      expect(stdout, why).not.toContain('UNREACHABLE');
      expect(stderr, why).toMatch(/^tsmpirun: rank 2 exited with code 3\b/m);
    });
  });

  it('a body that throws, uncaught, ends the job with its error', async () => {
    await run({ np: 3, script: FAILURES, args: ['body-throws'] }, ({ code, stderr, why }) => {
      expect(code, why).toBe(1);
      expect(stderr, why).toContain('[rank 0] uncaught exception: TypeError: the body failed');
    });
  });

  it('a task error nobody catches ends the job, printing where the worker threw it', async () => {
    await run({ np: 3, script: FAILURES, args: ['task-error-uncaught'] }, ({ code, stderr, why }) => {
      expect(code, why).toBe(1);
      const lines = linesOf(stderr);
      expect(lines, why).toContain('[rank 0] uncaught exception: RangeError: no good');
      expect(lines.some((l) => /^\[rank 0\]\s+at .*failures\.ts:\d+:\d+\)?$/.test(l)), why).toBe(true);
      expect(lines, why).toContain(`[rank 0]     at task 'fails' (worker 1 of 3 on ${hostname()})`);
    });
  });
});

// Tests that start no rank (or fail before any starts) do not depend on how ranks run: they run once,
// in the processes project, not again with ranks as threads.
const noRanks = it.skipIf(process.env.TSMPI_RANKS === 'threads');

describe("import … from 'tsmpi/futures'", () => {
  const expectedForms = (file: string) => [
    `FORM 0 ${file} {"values":[3,6,9],"sameErrors":true} [0]`,
    `FORM 1 ${file} null [3]`,
    `FORM 2 ${file} null [6]`,
  ];

  it.each([
    ['script', 'futures/forms.ts', 'main.cjs'],
    ['module', 'futures/forms-module.ts', 'main.mjs'],
  ])('in a job bundle in %s form: this tsmpirun\'s runtime, the same instances as tsmpi\'s', async (_form, script, file) => {
    await run({ np: 3, script: fixture(script) }, ({ code, stdout, stderr, why }) => {
      expect(code, why).toBe(0);
      expect(stderr, why).toBe('');
      expect(linesOf(stdout).sort(), why).toEqual(expectedForms(file));
    });
  });

  it('its bundle loads only in programs that import it (a code cache entry of its own)', async () => {
    const cacheHome = join(scratch, 'cache');
    const entries = () => {
      try {
        return readdirSync(join(cacheHome, 'tsmpi', 'v8')).length;
      } catch {
        return 0;
      }
    };
    const options = { launcher: BUNDLED_LAUNCHER, env: { XDG_CACHE_HOME: cacheHome } };
    await run({ ...options, np: 2, script: join(REPO, 'examples', 'hello.ts') }, ({ code, why }) => expect(code, why).toBe(0));
    expect(entries()).toBe(2); // the launcher and the runtime
    for (let i = 0; i < 2; i++) {
      await run({ ...options, np: 3, script: fixture('futures/forms.ts') }, ({ code, stdout, why }) => {
        expect(code, why).toBe(0);
        expect(linesOf(stdout).sort(), why).toEqual(expectedForms('main.cjs'));
      });
      expect(entries()).toBe(3); // and tsmpi/futures, written once
    }
  });

  noRanks('a subpath the package does not export is a compile error naming the entries', async () => {
    const script = join(scratch, 'bad-subpath.ts');
    writeFileSync(script, `import { x } from 'tsmpi/nope';\nconsole.log(x);\n`);
    await run({ np: 2, script }, ({ code, stderr, why }) => {
      expect(code, why).not.toBe(0);
      expect(stderr, why).toContain("'tsmpi/nope' is not an entry of the tsmpi package (tsmpi, tsmpi/futures)");
    });
  });

  noRanks('in a program run alone under node: a job of one rank, tasks in-process', () => {
    const r = spawnSync(process.execPath, [fixture('futures/alone.mjs')], { cwd: REPO, encoding: 'utf8', timeout: 30_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('ALONE 1 {"values":[2,4,6],"sameErrors":true}\n');
  });

  noRanks('dist/futures.js exports the names runtime/futures/index.ts declares', () => {
    const namesOf = (file: string) => {
      const r = spawnSync(process.execPath, ['--input-type=module', '-e',
        `console.log(JSON.stringify(Object.keys(await import(${JSON.stringify(pathToFileURL(join(REPO, 'dist', file)).href)}))))`,
      ], { encoding: 'utf8', timeout: 30_000 });
      expect(r.status, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as string[];
    };
    const declared = namesOf('runtime/futures/index.js');
    expect(namesOf('futures.js')).toEqual(declared);
    expect(declared).toEqual(expect.arrayContaining(['task', 'withExecutor', 'asCompleted', 'wait', 'Future', 'Executor']));
  });

  describe('from an installed package (package.json, dist/ copied under node_modules/tsmpi)', () => {
    const project = join(scratch, 'project');
    beforeAll(() => {
      const installed = join(project, 'node_modules', 'tsmpi');
      mkdirSync(installed, { recursive: true });
      cpSync(join(REPO, 'package.json'), join(installed, 'package.json'));
      cpSync(join(REPO, 'dist'), join(installed, 'dist'), { recursive: true });
      symlinkSync(join(REPO, 'node_modules', '@types'), join(project, 'node_modules', '@types'));
      cpSync(fixture('futures/alone.mjs'), join(project, 'alone.mjs'));
    });

    noRanks('node runs a program that imports tsmpi and tsmpi/futures from it', () => {
      const r = spawnSync(process.execPath, ['alone.mjs'], { cwd: project, encoding: 'utf8', timeout: 30_000 });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toBe('ALONE 1 {"values":[2,4,6],"sameErrors":true}\n');
    });

    it('tsmpirun runs it, with its own runtime', async () => {
      await run({ np: 3, script: 'alone.mjs', cwd: project }, ({ code, stdout, why }) => {
        expect(code, why).toBe(0);
        expect(stdout, why).toBe('ALONE 3 {"values":[2,4,6],"sameErrors":true}\n');
      });
    });

    noRanks('TypeScript finds the types of tsmpi/futures through the exports map (and they are not `any`)', () => {
      // skipLibCheck: declarations are read, not checked (checking @types/node took most of a minute).
      writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({
        compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, skipLibCheck: true, types: ['node'] },
        files: ['typed.ts', 'mistyped.ts'],
      }));
      writeFileSync(join(project, 'package.json'), JSON.stringify({ type: 'module' }));
      const program = [
        `import { COMM_WORLD } from 'tsmpi';`,
        `import { asCompleted, task, wait, withExecutor, type Executor, type Future, type MapOptions, type Progress } from 'tsmpi/futures';`,
        `const square = task('square', (x: number) => x * x);`,
        `const result: number[] | undefined = await withExecutor(COMM_WORLD, async (ex: Executor) => {`,
        `  const f: Future<number> = ex.submit(square, 3);`,
        `  for await (const done of asCompleted([f])) await done;`,
        `  const { done, notDone } = await wait([f], { returnWhen: 'FIRST_EXCEPTION', timeout: 10 });`,
        `  const options: MapOptions = { chunksize: 'auto', ordered: false, onProgress: (p: Progress) => void p.total };`,
        `  for await (const v of ex.map(square, [1, 2], options)) { const n: number = v; void n; }`,
        `  void [done.size, notDone.size];`,
        `  return ex.mapAll(square, [1, 2, 3]);`,
        `}, { root: 0, initializer: (n: number) => void n, initargs: [1] });`,
        `void result;`,
      ];
      writeFileSync(join(project, 'typed.ts'), program.join('\n'));
      writeFileSync(join(project, 'mistyped.ts'), [
        `import { COMM_WORLD } from 'tsmpi';`,
        `import { task, withExecutor } from 'tsmpi/futures';`,
        `const cube = task('cube', (x: number) => x ** 3);`,
        `await withExecutor(COMM_WORLD, (ex) => ex.submit(cube, 'three'));`,
      ].join('\n'));
      const tsc = spawnSync(process.execPath, [join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project], { cwd: project, encoding: 'utf8', timeout: 120_000 });
      // typed.ts checks; mistyped.ts has the one error.
      expect(linesOf(tsc.stdout).filter((l) => /error TS/.test(l)), tsc.stdout + tsc.stderr).toEqual([
        "mistyped.ts(4,56): error TS2345: Argument of type 'string' is not assignable to parameter of type 'number'.",
      ]);
    });
  });
});

describe('the examples', () => {
  const example = (name: string) => join(REPO, 'examples', name);

  async function output(np: number, script: string, args: string[] = []): Promise<string[]> {
    let lines: string[] = [];
    await run({ np, script: example(script), args }, ({ code, stdout, why }) => {
      expect(code, why).toBe(0);
      lines = linesOf(stdout);
    });
    return lines;
  }

  it('primes-pool: the verdicts of OpenSSL\'s primality test, the same on 1 and 3 ranks, and a progress line', async () => {
    const three = await output(3, 'primes-pool.ts', ['3000', '--list']);
    expect(three[0]).toMatch(/^Found \d+ primes among 3000 numbers in \d+\.\d\d s with 2 workers$/);
    const list = three.slice(2).map((l) => /^(\d+) (prime|composite)$/.exec(l)!);
    expect(list).toHaveLength(3000);
    for (const [, n, verdict] of list) expect(checkPrimeSync(BigInt(n!)), n).toBe(verdict === 'prime');
    const found = list.filter(([, , v]) => v === 'prime').length;
    expect(three[0]).toContain(`Found ${found} primes`);
    const one = await output(1, 'primes-pool.ts', ['3000', '--list']);
    expect(one[0]).toMatch(/with 1 worker$/);
    expect(one.slice(1)).toEqual(three.slice(1));
    await run({ np: 2, script: example('primes-pool.ts'), args: ['400'] }, ({ stderr, why }) => {
      expect(linesOf(stderr), why).toEqual([25, 50, 75, 100].map((p) => `checked ${4 * p} of 400 numbers (${p}%)`));
    });
  });

  it('sweep: 800 simulations, the 80 with γ ≤ 0 failed and summarised, the same on 1, 2 and 4 ranks', async () => {
    const runs = await Promise.all([1, 2, 4].map((np) => output(np, 'sweep.ts')));
    for (const [k, lines] of runs.entries()) {
      const workers = [1, 1, 3][k]!;
      expect(lines[0]).toBe(`Ran 800 simulations with ${workers} worker${workers === 1 ? '' : 's'}: 720 done, 80 failed`);
      expect(lines.slice(1, 3)).toEqual([
        'Failed: 40 × RangeError: the recovery rate γ must be positive, got -0.02',
        'Failed: 40 × RangeError: the recovery rate γ must be positive, got 0',
      ]);
      expect(lines.slice(1)).toEqual(runs[0]!.slice(1));
    }
    expect(runs[0]![3]).toMatch(/^Highest peak: \d+\.\d% infected on day \d+\.\d \(β = 1\.000, γ = 0\.02, R0 = 50\.00\)$/);
  });

  it('map-files: every file\'s size, lines and SHA-256, the same on 1 and 3 ranks', async () => {
    const dir = join(scratch, 'tree');
    const files: Record<string, string> = {
      'a.txt': 'one\ntwo\n', 'empty': '', 'sub/b.md': '# title\n\ntext', 'sub/deeper/c.bin': '\u0000\u00ff'.repeat(5000),
      'sub/deeper/d.txt': 'x\n'.repeat(1000),
    };
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(join(dir, path, '..'), { recursive: true });
      writeFileSync(join(dir, path), text, 'latin1');
    }
    const expected = Object.entries(files).sort(([a], [b]) => (a < b ? -1 : 1)).map(([path, text]) => {
      const data = Buffer.from(text, 'latin1');
      const lines = data.toString('latin1').split('\n').length - 1;
      return `${createHash('sha256').update(data).digest('hex').slice(0, 16)}  ${String(data.length).padStart(9)}  ${String(lines).padStart(7)}  ${path}`;
    });
    const total = Object.values(files).reduce((a, t) => a + t.length, 0);
    const totalLines = Object.values(files).reduce((a, t) => a + t.split('\n').length - 1, 0);
    for (const np of [1, 3]) {
      expect(await output(np, 'map-files.ts', [dir])).toEqual([...expected, `5 files, ${total} bytes, ${totalLines} lines`]);
    }
  });
});
