// Issue 6, "Bad input" for tsmpirun itself: bad options print a clear message and exit with status 2,
// starting no rank; a script with a syntax error (or an import that cannot be resolved) prints a clear
// message with file:line and exits with status 1, starting no rank; neither leaves anything behind.
// "No rank started" is proven three ways: the program (test/fixtures/failure/started.ts) would have
// written a marker file and printed a line, and tsmpirun's TMPDIR holds no job directory afterwards.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { REPO, assertNothingLeft, disposeAllJobs, fixture, runJob } from '../helpers/job.js';

const STARTED = fixture('failure/started.ts');
const scratch = mkdtempSync(join(tmpdir(), 'tsmpi-failtest-scripts-'));

afterEach(async () => {
  await disposeAllJobs();
});

afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

/** The message must name the file as a path that leads to it (from tsmpirun's cwd), with the line. */
function expectFileLine(stderr: string, script: string, line: number): void {
  const base = script.slice(script.lastIndexOf('/') + 1).replace(/[.]/g, '\\.');
  const m = new RegExp(`(\\S*${base}):${line}:\\d+`).exec(stderr);
  expect(m, `no ${base}:${line}:<column> in\n${stderr}`).not.toBeNull();
  expect(resolve(REPO, m![1]!), `the message names the file as '${m![1]}', which is not ${script} (tsmpirun ran in ${REPO})`).toBe(script);
}

async function expectNoRank(args: string[], status: number, message: RegExp, env: Record<string, string> = {}): Promise<string> {
  const marker = join(scratch, `marker-${Math.random().toString(36).slice(2)}`);
  const result = await runJob({ launcherArgs: args, env: { ...env, FAILTEST_MARKER: marker }, timeoutMs: 30_000 });
  const text = result.job.describe(result);
  expect(result.code, text).toBe(status);
  expect(result.stderr, text).toMatch(/^tsmpirun: /m);
  expect(result.stderr, text).toMatch(message);
  expect(result.stdout, text).not.toMatch(/STARTED/);
  expect(existsSync(marker) ? readFileSync(marker, 'utf8') : '', `a rank ran:\n${text}`).toBe('');
  expect(readdirSync(result.job.tmp).filter((n) => n.startsWith('tsmpi-')), text).toEqual([]);
  expect(result.ms, text).toBeLessThan(10_000);
  await assertNothingLeft(result);
  return result.stderr;
}

describe('tsmpirun with bad options: exit 2, a clear message, no rank started', () => {
  const cases: [string, string[], RegExp][] = [
    ['an unknown option', ['--bogus', '-np', '2', STARTED], /unknown option.*--bogus/],
    ['-np 0', ['-np', '0', STARTED], /-np/],
    ['-np -1', ['-np', '-1', STARTED], /-np/],
    ['-np abc', ['-np', 'abc', STARTED], /-np/],
    ['-np 1.5', ['-np', '1.5', STARTED], /-np/],
    ['-np without a value before the script', ['-np', STARTED], /-np|script/],
    ['-np without a value at the end', ['-np'], /-np|needs a value/],
    ['no script', ['-np', '2'], /script/],
    ['a script that does not exist', ['-np', '2', join(scratch, 'nope.ts')], /not found|no such|does not exist/i],
    ['a script with an unsupported extension', ['-np', '2', join(scratch, 'notes.txt')], /\.txt|extension|script/],
    ['a directory as the script', ['-np', '2', scratch], /not a file|script/],
    ['--timeout -5', ['--timeout', '-5', '-np', '2', STARTED], /--timeout/],
    ['--timeout abc', ['--timeout', 'abc', '-np', '2', STARTED], /--timeout/],
    ['--timeout 0', ['--timeout', '0', '-np', '2', STARTED], /--timeout/],
    ['--host with a malformed entry', ['--host', 'a:0', '-np', '2', STARTED], /--host/],
    ['--hostfile that does not exist', ['--hostfile', join(scratch, 'nohosts'), '-np', '2', STARTED], /hostfile/],
    ['more ranks than the slots of --host', ['--host', 'localhost:2', '-np', '4', STARTED], /slots|oversubscribe/],
    ['-x with an invalid name', ['-x', '1BAD=2', '-np', '2', STARTED], /-x/],
    ['--output-filename without a value', ['-np', '2', '--output-filename'], /output-filename|needs a value/],
    ['--output-filename naming a file', ['-np', '2', '--output-filename', join(scratch, 'notes.txt'), STARTED], /--output-filename: .*notes\.txt is not a directory/],
    ['-np2 without a space', ['-np2', STARTED], /-np2: write -np 2/],
    ['a flag given a value', ['--oversubscribe=yes', '-np', '2', STARTED], /oversubscribe/],
  ];
  writeFileSync(join(scratch, 'notes.txt'), 'console.log(1)\n');
  for (const [what, args, message] of cases) {
    it(what, async () => {
      await expectNoRank(args, 2, message);
    });
  }

  it.each([
    ['a misspelt TSMPI_ variable', { TSMPI_EAGERLIMIT: '4096' }, /^tsmpirun: unknown variable TSMPI_EAGERLIMIT; the variables users may set are: TSMPI_RANKS, TSMPI_TRANSPORT, /],
    ['a bad collective override', { TSMPI_COLL_BCAST: 'fastest' }, /^tsmpirun: TSMPI_COLL_BCAST=fastest is not an algorithm of bcast; valid: /],
  ])('%s in the environment: one line', async (_what, env, message) => {
    const stderr = await expectNoRank(['-np', '2', STARTED], 2, message, env);
    expect(stderr.split('\n')).toHaveLength(2);
  });
});

describe('a script that does not compile: exit 1, file:line in the message, no rank started', () => {
  it('a syntax error', async () => {
    const script = join(scratch, 'syntax-error.ts');
    writeFileSync(script, [
      "import { COMM_WORLD } from 'tsmpi';",
      "import { appendFileSync } from 'node:fs';",
      "appendFileSync(process.env.FAILTEST_MARKER ?? '/dev/null', 'ran\\n');",
      'const x = (1 + ;',
      'console.log(COMM_WORLD.rank, x);',
      '',
    ].join('\n'));
    const stderr = await expectNoRank(['-np', '2', script], 1, /syntax-error\.ts:4:\d+: .*(Unexpected|expected)/i);
    expectFileLine(stderr, script, 4);
    expect(stderr).not.toMatch(/^\s+at /m); // a message, not a stack trace of tsmpirun
  });

  it('an import that cannot be resolved', async () => {
    const script = join(scratch, 'bad-import.ts');
    writeFileSync(script, [
      "import { COMM_WORLD } from 'tsmpi';",
      "import { nothing } from './does-not-exist.js';",
      'console.log(COMM_WORLD.rank, nothing);',
      '',
    ].join('\n'));
    const stderr = await expectNoRank(['-np', '2', script], 1, /bad-import\.ts:2:\d+/);
    expectFileLine(stderr, script, 2);
    expect(stderr).toMatch(/does-not-exist/);
    expect(stderr).not.toMatch(/^\s+at /m);
  });
});
