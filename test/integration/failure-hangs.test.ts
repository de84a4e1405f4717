// Issue 6, hangs explained: --timeout S prints, for every rank, what it is blocked in (operation,
// communicator, peer or root, tag, how long) and ends the job with exit status 124; deadlock detection
// reports every rank's pending operation and ends the job with 125 — and raises no false alarm while a
// rank computes for 3 s, while messages move slowly (one every 300 ms for 3 s), or while large (512 MiB)
// messages stream; --no-deadlock-detection turns it off. Nothing of the job may remain afterwards.
import { afterEach, describe, expect, it } from 'vitest';
import {
  assertNothingLeft, DEADLINE_TRIES_TEST_TIMEOUT_MS, disposeAllJobs, fixture, type Job, linesOf, runJob, startJob, withDeadlineRoomForLoad,
} from '../helpers/job.js';

const HANG = fixture('failure/hang.ts');

afterEach(async () => {
  await disposeAllJobs();
});

/** The READY lines of all `np` ranks, if each came before the deadline (so every rank was blocked when it fired). */
function readyBefore(job: Job, np: number, deadlineMs: number) {
  const ready = job.lines.filter((l) => /^READY rank=\d$/.test(l.text));
  return ready.length === np && ready.every((l) => l.at < deadlineMs) ? ready : undefined;
}

describe('--timeout', () => {
  it('reports every rank (op, communicator, peer or root, tag, how long) and exits 124', async () => {
    await withDeadlineRoomForLoad(async (timeoutS, lastTry) => {
      const deadlineMs = timeoutS * 1000;
      const job = startJob({ np: 5, script: HANG, args: ['mixed'], launcherArgs: ['--timeout', String(timeoutS)], timeoutMs: deadlineMs + 50_000 });
      const result = await job.result;
      const ready = readyBefore(job, 5, deadlineMs);
      if (ready === undefined && !lastTry) { await assertNothingLeft(job); return 'ranks not ready in time'; }
      const text = job.describe(result);
      expect(ready, `not every rank was blocked when the --timeout fired\n${text}`).toBeDefined();
      expect(result.code, text).toBe(124);
      // The report and the end of the job follow the deadline (rank 1 spins, so it takes SIGKILL): within
      // a second on an idle machine, 5.9 s seen with two test suites running at once.
      expect(result.ms, text).toBeGreaterThanOrEqual(deadlineMs);
      expect(result.ms, text).toBeLessThan(deadlineMs + 15_000);
      const err = result.stderr;
      expect(err, text).toMatch(/timeout/i);
      expect(err, text).toMatch(/^ *rank 0: blocked in recv on COMM_WORLD from rank 1, tag 42, for \d+(\.\d+)? s$/m);
      expect(err, text).toMatch(/^ *rank 1: .*(busy|no answer|comput)/m);
      expect(err, text).toMatch(/^ *rank 2: blocked in bcast\(root=0\) on COMM_WORLD \(collective #1\), for \d+(\.\d+)? s$/m);
      expect(err, text).toMatch(/^ *rank 3: blocked in send on COMM_WORLD to rank 0, tag 43, for \d+(\.\d+)? s$/m);
      expect(err, text).toMatch(/^ *rank 4: blocked in bcast\(root=0\) on COMM_WORLD \(collective #1\), for \d+(\.\d+)? s$/m);
      // "How long": a rank has been blocked since it printed READY, and the report comes at least the
      // deadline after the job started, so each duration is at least the deadline minus the time of its
      // READY line (less the report's rounding to 0.1 s), and at most the job's whole run. (How early the
      // ranks are ready depends on the machine's load.)
      const readyAt = new Map(ready!.map((l) => [Number(/rank=(\d)/.exec(l.text)![1]), l.at]));
      const reported = [...err.matchAll(/^ *rank (\d): blocked in .* for (\d+(?:\.\d+)?) s$/gm)];
      expect(reported.map((m) => Number(m[1])), text).toEqual([0, 2, 3, 4]);
      for (const [, rank, seconds] of reported) {
        expect(Number(seconds), text).toBeGreaterThanOrEqual((deadlineMs - readyAt.get(Number(rank))!) / 1000 - 0.1);
        expect(Number(seconds), text).toBeLessThanOrEqual(result.ms / 1000);
      }
      expect(err, text).not.toMatch(/deadlock:/);
      await assertNothingLeft(job);
      return 'checked';
    });
  }, DEADLINE_TRIES_TEST_TIMEOUT_MS);
});

describe('deadlock detection', () => {
  it('reports each rank\'s pending operation and exits 125', async () => {
    const np = 3;
    const job = startJob({ np, script: HANG, args: ['deadlock'], timeoutMs: 30_000 });
    const ready = await job.waitForLines(/^READY rank=\d$/, np);
    const blockedAt = Math.max(...ready.map((l) => l.at));
    const result = await job.result;
    const text = job.describe(result);
    expect(result.code, text).toBe(125);
    expect(result.stderr, text).toMatch(/deadlock/i);
    for (let r = 0; r < np; r++) {
      const re = new RegExp(`^ *rank ${r}: blocked in recv on COMM_WORLD from rank ${(r + 1) % np}, tag ${40 + r}, for \\d+(\\.\\d+)? s$`, 'm');
      expect(result.stderr, text).toMatch(re);
    }
    expect(result.stdout, text).not.toMatch(/UNEXPECTED/);
    // Blocked ≥ 1 s is the criterion; the verdict (two polls 0.5 s apart, each waiting up to 0.4 s for
    // answers) and the end must not take much longer, even on a loaded machine.
    expect(result.ms - blockedAt, text).toBeGreaterThanOrEqual(1000);
    expect(result.ms - blockedAt, text).toBeLessThan(10_000);
    await assertNothingLeft(job);
  });

  it('a rank that ended normally while the others wait for it: the job ends (not hangs), naming the waits', async () => {
    const np = 3;
    const result = await runJob({ np, script: HANG, args: ['ended'], timeoutMs: 30_000 });
    const text = result.job.describe(result);
    expect(result.code, text).not.toBe(0);
    // Ends on its own: far sooner than the 30 s after which runJob would kill it (no fixed bound: a loaded machine is slow).
    expect(result.ms, text).toBeLessThan(20_000);
    // The waiting ranks fail with TSMPI_ERR_PEER_FINISHED naming their wait and rank 1 (not a generic deadlock).
    expect(result.code, text).toBe(1);
    expect(result.stderr, text).toMatch(/TSMPI_ERR_PEER_FINISHED: rank [02] waits in recv\(source=1, tag=3\) on COMM_WORLD, but rank 1 has finished/);
    expect(result.stdout, text).not.toMatch(/UNEXPECTED/);
    await assertNothingLeft(result);
  });

  it('--no-deadlock-detection: the same deadlock runs until --timeout (124), no deadlock report', async () => {
    await withDeadlineRoomForLoad(async (timeoutS, lastTry) => {
      const deadlineMs = timeoutS * 1000;
      const job = startJob({
        np: 3, script: HANG, args: ['deadlock'], launcherArgs: ['--no-deadlock-detection', '--timeout', String(timeoutS)], timeoutMs: deadlineMs + 50_000,
      });
      const result = await job.result;
      const ready = readyBefore(job, 3, deadlineMs);
      if (ready === undefined && !lastTry) { await assertNothingLeft(job); return 'ranks not ready in time'; }
      const text = job.describe(result);
      expect(ready, `not every rank was blocked when the --timeout fired\n${text}`).toBeDefined();
      expect(result.code, text).toBe(124);
      expect(result.ms, text).toBeGreaterThanOrEqual(deadlineMs);
      expect(result.stderr, text).not.toMatch(/deadlock:/);
      expect(result.stderr, text).toMatch(/^ *rank 0: blocked in recv on COMM_WORLD from rank 1, tag 40/m);
      await assertNothingLeft(job);
      return 'checked';
    });
  }, DEADLINE_TRIES_TEST_TIMEOUT_MS);

  const noFalseAlarm: { mode: string; np: number; what: string; done: RegExp }[] = [
    { mode: 'compute', np: 3, what: 'a rank computes for 3 s while the others wait for it', done: /^DONE rank=\d$/ },
    { mode: 'slow', np: 3, what: 'messages move slowly (one every 300 ms for 3 s)', done: /^DONE rank=\d got=10$/ },
    { mode: 'large', np: 3, what: 'two 512 MiB messages stream while a third rank waits in a barrier', done: /^DONE rank=\d$/ },
    // A rank with many pending operations must still be able to answer tsmpirun's state requests.
    { mode: 'manyops', np: 2, what: 'a rank waits for 20 000 posted irecvs (its state report is large)', done: /^DONE rank=\d$/ },
  ];
  for (const c of noFalseAlarm) {
    it(`no false alarm while ${c.what}`, async () => {
      const result = await runJob({ np: c.np, script: HANG, args: [c.mode], timeoutMs: 60_000 });
      const text = result.job.describe(result);
      expect(result.stderr, text).not.toMatch(/deadlock/i);
      expect(result.code, text).toBe(0);
      expect(linesOf(result.stdout).filter((l) => c.done.test(l)), text).toHaveLength(c.np);
      await assertNothingLeft(result);
    });
  }
});
