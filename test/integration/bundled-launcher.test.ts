// The one-file launcher users run (package.json `bin`, dist/tsmpirun.js) and the code caches it and
// every rank load from (runtime/env/bundles.ts): with an empty cache directory the first job compiles
// and writes one entry for the launcher and one for the runtime; the next job runs from them and writes
// nothing; a script new to the bundle cache is built with esbuild (loaded through require: the cached
// launcher cannot import()); the results are the same each time, and nothing is left behind. The
// bundled runtime's lazily loaded msgpackr extractor decodes strings alike before and after it loads.
// Ranks import the same names that the package's types declare.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { assertNothingLeft, BUNDLED_LAUNCHER, disposeAllJobs, linesOf, REPO, runJob, type JobOptions } from '../helpers/job.js';

const scratch = mkdtempSync(join(tmpdir(), 'tsmpi-bundled-launcher-test-'));
const cacheHome = join(scratch, 'cache');
afterEach(disposeAllJobs);
afterAll(async () => {
  await disposeAllJobs();
  rmSync(scratch, { recursive: true, force: true });
});

async function run(options: JobOptions) {
  const result = await runJob({ timeoutMs: 60_000, launcher: BUNDLED_LAUNCHER, ...options, env: { XDG_CACHE_HOME: cacheHome, ...options.env } });
  await assertNothingLeft(result);
  expect(result.code, `exit ${result.code}\n--- stdout ---\n${result.stdout}--- stderr ---\n${result.stderr}`).toBe(0);
  expect(result.stderr).toBe('');
  return result;
}

const codeCacheEntries = () => {
  try {
    return readdirSync(join(cacheHome, 'tsmpi', 'v8')).sort();
  } catch {
    return [];
  }
};

describe('dist/tsmpirun.js with an empty cache directory, then with its caches', () => {
  // A script of its own, so that its bundle is built here (esbuild) rather than found in a cache.
  const script = join(scratch, 'sum.ts');
  writeFileSync(script, [
    `import { COMM_WORLD as comm, SUM } from 'tsmpi';`,
    `const total: number = await comm.allreduce(comm.rank + 1, SUM);`,
    `const data = new Float64Array(4096).fill(comm.rank);`,
    `await comm.Bcast(data, 0);`,
    `console.log(\`rank \${comm.rank}: total \${total}, bcast \${data[4095]}\`);`,
  ].join('\n'));
  const expected = [0, 1, 2, 3].map((r) => `rank ${r}: total 10, bcast 0`);

  it('first job: builds the script, compiles, and writes one code cache entry for the launcher and one for the runtime', async () => {
    expect(codeCacheEntries()).toEqual([]);
    const r = await run({ np: 4, script });
    expect(linesOf(r.stdout).sort()).toEqual(expected);
    expect(codeCacheEntries()).toHaveLength(2);
  });

  it('next jobs: run from the caches, write no new entry, give the same results', async () => {
    const before = codeCacheEntries();
    expect(before).toHaveLength(2);
    const r = await run({ np: 4, script });
    expect(linesOf(r.stdout).sort()).toEqual(expected);
    const hello = await run({ np: 3, script: join(REPO, 'examples', 'hello.ts') });
    expect(linesOf(hello.stdout).map((l) => l.replace(/ on .*$/, '')).sort())
      .toEqual([0, 1, 2].map((rank) => `Hello from rank ${rank} of 3`));
    expect(codeCacheEntries()).toEqual(before);
  });

  it('string-heavy objects arrive intact while decoded in JavaScript and after msgpackr\'s native extractor loads', async () => {
    // ~100 KiB per message, 40 messages: the bundle's extractor decodes the first 2 MiB in JS and then
    // loads msgpackr-extract (launcher/transform.ts, NATIVE_AFTER_BYTES); the start-up exchange alone
    // must not load it.
    const strings = join(scratch, 'strings.ts');
    writeFileSync(strings, [
      `import { readFileSync } from 'node:fs';`,
      `import { COMM_WORLD as comm } from 'tsmpi';`,
      `const nativeLoaded = () => readFileSync('/proc/self/maps', 'utf8').includes('msgpackr-extract');`,
      `const records = (m: number) => Array.from({ length: 1000 }, (_, i) => ({ name: \`rank-\${i}-message-\${m}\`, path: \`/tmp/ωμέγα/\${i * m}.sock\`, tag: 'x'.repeat(i % 40) }));`,
      `const atStart = nativeLoaded();`,
      `let intact = 0;`,
      `for (let m = 0; m < 40; m++) {`,
      `  if (comm.rank === 0) await comm.send(records(m), 1, m);`,
      `  else if (JSON.stringify(await comm.recv(0, m)) === JSON.stringify(records(m))) intact++;`,
      `}`,
      `if (comm.rank === 1) console.log(\`intact \${intact}, native at start \${atStart}, at end \${nativeLoaded()}\`);`,
    ].join('\n'));
    const r = await run({ np: 2, script: strings });
    expect(linesOf(r.stdout)).toEqual(['intact 40, native at start false, at end true']);
  });

  it('ranks import the names the package declares: dist/tsmpi.js exports what runtime/index.ts does', async () => {
    // package.json gives TypeScript runtime/index.ts's declarations and gives ranks dist/tsmpi.js,
    // whose names come from runtime/library.ts (launcher/transform.ts): a name added to one only would
    // type-check and then be missing at run time, or the reverse.
    const names = join(scratch, 'names.ts');
    writeFileSync(names, [
      `import * as tsmpi from 'tsmpi';`,
      `if (tsmpi.COMM_WORLD.rank === 0) console.log(JSON.stringify(Object.keys(tsmpi)));`,
    ].join('\n'));
    const r = await run({ np: 2, script: names });
    const inRanks = JSON.parse(linesOf(r.stdout)[0]!) as string[];
    const indexUrl = pathToFileURL(join(REPO, 'dist', 'runtime', 'index.js')).href;
    // runtime/index.ts as tsc emits it, run alone: a job of one rank.
    const alone = spawnSync(process.execPath, [
      '--input-type=module', '-e', `console.log(JSON.stringify(Object.keys(await import(${JSON.stringify(indexUrl)}))))`,
    ], { encoding: 'utf8', timeout: 30_000 });
    expect(alone.status, alone.stderr).toBe(0);
    const declared = JSON.parse(alone.stdout) as string[];
    expect(inRanks).toEqual(declared);
    expect(declared).toEqual(expect.arrayContaining(['COMM_WORLD', 'COMM_SELF', 'finalize', 'Comm', 'SUM', 'Request', 'TsmpiError']));
  });

  it('usage errors still exit 2 with a message', async () => {
    const r = await runJob({ launcher: BUNDLED_LAUNCHER, np: 2, script: join(scratch, 'missing.ts'), env: { XDG_CACHE_HOME: cacheHome } });
    await assertNothingLeft(r);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/script not found/);
  });
});

describe('the runtime without the launcher (node prog.mjs)', () => {
  const runtimeUrl = pathToFileURL(join(REPO, 'dist', 'tsmpi.js')).href;

  /** Runs a one-rank program (its lines after the import of the runtime) and returns what it printed. */
  function runAlone(name: string, lines: string[], env: Record<string, string> = {}) {
    const program = join(scratch, name);
    writeFileSync(program, [`import { COMM_WORLD as comm } from ${JSON.stringify(runtimeUrl)};`, ...lines].join('\n'));
    const r = spawnSync(process.execPath, [program], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, XDG_CACHE_HOME: cacheHome, ...env } });
    return { status: r.status, stderr: r.stderr, why: `exit ${r.status}\n--- stderr ---\n${r.stderr}` };
  }

  // Node prints the source line where an uncaught error was made: here, a line of the one-line runtime
  // bundle, hundreds of KB, unless that line holds Node's marker (runtime/errors.ts).
  it.each([
    ['a call with a bad argument', 'bad-call.mjs', ['await comm.send("x", 5);'], {}, /^TsmpiError: TSMPI_ERR_RANK: destination rank number 5 /, /bad-call\.mjs:2:\d+/],
    // Raised while the import joins the job: no frame of the program's own is on the stack.
    ['a misspelt setting', 'bad-setting.mjs', ['console.log("unreachable");'], { TSMPI_EAGERLIMIT: '1' }, /^TsmpiError: TSMPI_ERR_ARG: unknown variable TSMPI_EAGERLIMIT;/, undefined],
  ])('an uncaught TsmpiError from %s prints the error first and never a line of the bundle', (_what, name, lines, env, first, userFrame) => {
    const r = runAlone(name, lines, env);
    expect(r.status, r.why).toBe(1);
    const printed = linesOf(r.stderr);
    expect(printed[0], r.why).toMatch(first);
    expect(printed.filter((line) => line.length > 400), r.why).toEqual([]);
    if (userFrame) expect(r.stderr, r.why).toMatch(userFrame);
    expect(r.stderr.length, r.why).toBeLessThan(8 * 1024);
  });
});
