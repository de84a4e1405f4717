// tsmpi/futures in real jobs (issue 21). The cases of test/fixtures/futures/cases.ts (ported from
// mpi4py's demo/futures/test_futures.py and test/test_util_pool.py, and piscina's task tests) on 1,
// 2, 3 and 4 ranks, the interleaving case with several seeds; the start-up check of the task
// registries; a worker that dies, a body that throws and a task error nobody catches, each ending the
// job rather than hanging it; and `import 'tsmpi/futures'` in every way a program meets it: a job
// bundle in script form and in module form, a program run alone under node, an installed package
// (its types too). Every job is checked to leave nothing behind.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { checkThenNothingLeft, disposeAllJobs, fixture, linesOf, REPO, runJob, type JobOptions } from '../helpers/job.js';

const CASES = fixture('futures/cases.ts');
const MAIN_CASES = [
  'submit', 'submit-cancel', 'map', 'starmap', 'map-exception', 'map-chunksize', 'map-unordered', 'map-lazy', 'empty',
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
async function runCases(np: number, names: string[], seed = 1): Promise<string[]> {
  let ok: string[] = [];
  await run({ np, script: CASES, args: names, env: { FUTURES_SEED: String(seed) }, launcherArgs: ['--timeout', '80'] }, ({ code, stdout, stderr, why }) => {
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

  for (const np of [2, 3, 4]) {
    it(`map timeouts on ${np} ranks`, async () => {
      await runCases(np, ['map-timeout']);
    });
  }

  it('map timeouts on 1 rank', async () => {
    await runCases(1, ['map-timeout']);
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

  it('a subpath the package does not export is a compile error naming the entries', async () => {
    const script = join(scratch, 'bad-subpath.ts');
    writeFileSync(script, `import { x } from 'tsmpi/nope';\nconsole.log(x);\n`);
    await run({ np: 2, script }, ({ code, stderr, why }) => {
      expect(code, why).not.toBe(0);
      expect(stderr, why).toContain("'tsmpi/nope' is not an entry of the tsmpi package (tsmpi, tsmpi/futures)");
    });
  });

  it('in a program run alone under node: a job of one rank, tasks in-process', () => {
    const r = spawnSync(process.execPath, [fixture('futures/alone.mjs')], { cwd: REPO, encoding: 'utf8', timeout: 30_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('ALONE 1 {"values":[2,4,6],"sameErrors":true}\n');
  });

  it('dist/futures.js exports the names runtime/futures/index.ts declares', () => {
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

    it('node runs a program that imports tsmpi and tsmpi/futures from it', () => {
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

    it('TypeScript finds the types of tsmpi/futures through the exports map (and they are not `any`)', () => {
      writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({
        compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, skipLibCheck: false, types: ['node'] },
        files: ['typed.ts'],
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
      const tsc = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
      writeFileSync(join(project, 'typed.ts'), program.join('\n'));
      const good = spawnSync(process.execPath, [tsc, '-p', project], { cwd: project, encoding: 'utf8', timeout: 60_000 });
      expect(good.status, good.stdout + good.stderr).toBe(0);
      writeFileSync(join(project, 'typed.ts'), [...program, `withExecutor(COMM_WORLD, (ex) => ex.submit(square, 'three'));`].join('\n'));
      const bad = spawnSync(process.execPath, [tsc, '-p', project], { cwd: project, encoding: 'utf8', timeout: 60_000 });
      expect(bad.status).not.toBe(0);
      expect(bad.stdout).toMatch(/typed\.ts\(14,\d+\): error TS2345: Argument of type 'string' is not assignable to parameter of type 'number'/);
    });
  });
});
