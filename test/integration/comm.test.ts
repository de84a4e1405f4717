// Communicators and Cartesian topologies in real jobs (issue 4): test/fixtures/comm/cases.ts runs named
// cases on every rank, checks them against models of its own and prints `OK <case> rank=<R>`; here we
// start it at several sizes and require every rank's OK line for every case, a clean exit, and nothing
// left behind.
//
// What the cases cover (details in the fixture):
//   split              many colour/key schemes: ordering by key then rank, negative and huge keys, UNDEFINED
//                      → null, default key, split of a split; ring messages and an allreduce on each result
//   dup-isolation      wildcard receives on a dup vs COMM_WORLD (posted and unexpected, objects and typed,
//                      large rendezvous messages), dup of a dup, COMM_SELF, collectives on all at once
//   sub-concurrent     collectives on split halves while the world does point-to-point; pipelined
//                      collectives; overlapping row/column communicators all running at once
//   concurrent-create  disjoint halves dup/split different numbers of times at once; contexts cross-checked
//   free               every call on a freed Comm/CartComm fails with TSMPI_ERR_COMM; contexts are recycled
//   context-exhaustion running out of context ids is a clear TSMPI_ERR_COMM on every rank, and recoverable
//   cart               ndim 1–3 × periodic/non-periodic/mixed: coords, getCoords/getCartRank round trips,
//                      neighbour of every rank in every direction both signs, wrap vs TSMPI_ERR_RANK,
//                      shift with several displacements and a Sendrecv along each, sub() for every subset
//                      of dimensions with concurrent collectives on all sub-grids
//   cart-extra         prod(dims) < size → null for the extra ranks; > size → TSMPI_ERR_DIMS naming both
//                      numbers; bad dims; a cart on a split and its sub; rank/root checks on sub-communicators
//   compute-dims       the table of issue 4 and more, and its errors, through the public API
//   self               COMM_SELF point-to-point, collectives, dup, split, a periodic ring of one
//   create-cyclic      communicator creation started concurrently in a cyclic order (see the test)
//   abort-sub          abort() on a sub-communicator ends the job with its code
import { afterAll, describe, expect, it } from 'vitest';
import { assertNothingLeft, disposeAllJobs, fixture, leftovers, linesOf, runJob, startJob, type Job } from '../helpers/job.js';

const CASES = fixture('comm/cases.ts');
afterAll(disposeAllJobs);
const MAIN_CASES = ['split', 'dup-isolation', 'sub-concurrent', 'concurrent-create', 'cart', 'cart-extra', 'compute-dims', 'self'];

/** The job-directory reaper of launcher/job.ts (`/bin/sh -c 'cat >/dev/null; rm -rf -- "$0"' DIR`). */
const isReaper = (cmdline: string) => cmdline === 'cat' || cmdline.startsWith('/bin/sh -c cat >/dev/null;');

/**
 * assertNothingLeft, checked at once for everything but the launcher's job-directory reaper, which is
 * allowed a moment to go. tsmpirun SIGKILLs the reaper's process group just before it exits and does
 * not wait for it to die, so an immediate /proc scan still finds `sh -c 'cat …'` and `cat` alive after
 * about 1 job in 10–20 (a launcher bug, reported with the test "job hygiene" below). Once tsmpirun waits
 * for its reaper, plain `assertNothingLeft(result)` is enough.
 */
async function nothingLeft(result: { job: Job }): Promise<void> {
  const early = leftovers(result.job).processes.filter((p) => !isReaper(p.cmdline));
  expect(early, 'processes of the job still running when tsmpirun had exited').toEqual([]);
  await assertNothingLeft(result, { graceMs: 2000 });
}

/** Runs the fixture with `names` on `np` ranks; expects exit 0 and one OK line per case and rank. */
async function runCases(np: number, names: string[], timeoutMs = 90_000): Promise<string[]> {
  const result = await runJob({ np, script: CASES, args: names, timeoutMs, launcherArgs: ['--timeout', String(timeoutMs / 1000 - 5)] });
  await nothingLeft(result);
  const text = `tsmpirun -np ${np} cases.ts ${names.join(' ')}\n--- stdout ---\n${result.stdout}--- stderr ---\n${result.stderr}`;
  expect(result.code, text).toBe(0);
  const ok = linesOf(result.stdout).filter((l) => l.startsWith('OK '));
  for (const name of names) {
    for (let rank = 0; rank < np; rank++) {
      const mine = ok.filter((l) => l === `OK ${name} rank=${rank}` || l.startsWith(`OK ${name} rank=${rank} `));
      expect(mine.length, `one OK line of case ${name} on rank ${rank}\n${text}`).toBe(1);
    }
  }
  expect(ok.length, text).toBe(names.length * np);
  return ok;
}

describe('communicators and topologies in real jobs', () => {
  for (const np of [1, 2, 3, 4, 6]) {
    it(`every case on ${np} rank(s)`, async () => {
      const ok = await runCases(np, MAIN_CASES);
      // The details show what ran: e.g. how many grids, shifts and sub-grids the cart case checked.
      const cart = ok.find((l) => l.startsWith('OK cart rank=0 '))!;
      expect(cart).toMatch(/grids=\d+ shifts=\d+ subs=\d+/);
      if (np >= 4) expect(ok.find((l) => l.startsWith('OK sub-concurrent rank=0'))).toMatch(/grid=\d+x\d+/);
    });
  }

  for (const np of [5, 8]) {
    it(`split, cart and cart-extra on ${np} ranks`, async () => {
      await runCases(np, ['split', 'cart', 'cart-extra', 'concurrent-create']);
    });
  }

  it('free: use after free fails with TSMPI_ERR_COMM, contexts are recycled, exhaustion is a clear error (3 ranks)', async () => {
    const ok = await runCases(3, ['free', 'context-exhaustion']);
    expect(ok.find((l) => l.startsWith('OK free rank=0'))).toContain('rounds=2100');
    // 2048 slots, two reserved (COMM_WORLD, COMM_SELF)
    expect(ok.find((l) => l.startsWith('OK context-exhaustion rank=0'))).toContain('limit=2046');
  });

  it('free and exhaustion on 1 rank', async () => {
    await runCases(1, ['free', 'context-exhaustion', 'self']);
  });

  it('abort() on a sub-communicator ends the whole job with its code', async () => {
    for (const np of [1, 4]) {
      const result = await runJob({ np, script: CASES, args: ['abort-sub'], timeoutMs: 30_000 });
      await nothingLeft(result);
      const text = `--- stdout ---\n${result.stdout}--- stderr ---\n${result.stderr}`;
      expect(result.code, text).toBe(7);
      expect(result.stdout, text).toContain(`ABORTING rank=${Math.min(1, np - 1)}`);
      expect(result.stderr, text).toMatch(/abort\(7\)/);
    }
  });

  // Runtime bug (reported): context-id agreements are serialized per process (ContextIds.serialize in
  // runtime/comm/context-ids.ts, used by Comm.#agreeContext), so dup/split/createCart/sub started
  // concurrently on different communicators in a cyclic order deadlock, although each is collective over
  // its own communicator only and ordinary collectives started the same way complete (the fixture shows
  // both). mpi4py users meet the same pattern with Comm.Idup; in tsmpi every call is a promise, so
  // Promise.all over communicators is the natural way to write it.
  for (const np of [2, 3]) {
    it(`communicators created concurrently in a cyclic order on ${np} ranks`, async () => {
      await runCases(np, ['create-cyclic'], 30_000);
    });
  }
});

describe('job hygiene (found while writing the tests above)', () => {
  // launcher/job.ts starts a detached `/bin/sh -c 'cat >/dev/null; rm -rf -- "$0"' JOBDIR` to remove the
  // job directory should tsmpirun be SIGKILLed. On a normal end it must stop the shell *and* its `cat`:
  // killing the shell alone by PID (as the first version did) leaves `cat` running until it reads EOF,
  // after tsmpirun has exited. Stopping that `cat` while the job runs makes this deterministic: only a
  // kill of the whole process group (which the current launcher does) removes a stopped `cat`.
  // What remains (reported, not testable deterministically): tsmpirun exits right after sending SIGKILL,
  // without waiting for the reaper to die, so an immediate scan occasionally still sees it.
  it('tsmpirun leaves no helper process behind when it ends normally', async () => {
    const job = startJob({ np: 2, script: fixture('comm/hold.ts'), keepStdinOpen: true, timeoutMs: 30_000 });
    try {
      await job.waitForLine('READY');
      const helpers = leftovers(job).processes.filter((p) => p.cmdline === 'cat');
      for (const p of helpers) process.kill(p.pid, 'SIGSTOP');
      job.child.stdin!.end('go\n');
      const result = await job.result;
      expect(result.code, job.describe(result)).toBe(0);
      expect(linesOf(result.stdout).filter((l) => l.startsWith('DONE')).length).toBe(2);
      const left = leftovers(job).processes;
      expect(left, `processes left by tsmpirun (the reaper's cat was stopped: ${helpers.map((p) => p.pid).join(', ') || 'none found'})`).toEqual([]);
    } finally {
      await job.dispose(); // SIGKILLs whatever is left, by PID
    }
  });
});
