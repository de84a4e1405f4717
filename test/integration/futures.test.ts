// tsmpi/futures in real jobs (issue 21). The cases of test/fixtures/futures/cases.ts (ported from
// mpi4py's demo/futures/test_futures.py and test/test_util_pool.py, and piscina's task tests) on 1,
// 2, 3 and 4 ranks, the interleaving case with several seeds; the start-up check of the task
// registries; a worker that dies, a body that throws and a task error nobody catches, each ending the
// job rather than hanging it; and `import 'tsmpi/futures'` in every way a program meets it: a job
// bundle in script form and in module form, a program run alone under node, an installed package
// (its types too). Every job is checked to leave nothing behind.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
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
