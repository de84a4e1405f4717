// The end of a job: finalize (implicit when a rank's code is done, or explicit) is a fence, so a rank
// that is done never makes a peer fail — its last large message is still read, messages nobody received
// are not an error — and a rank still waiting for one that has finished fails at once with
// TSMPI_ERR_PEER_FINISHED naming what it waits for, instead of hanging (test/fixtures/finalize/*.ts).
// free() with operations pending lets them complete (the free-pending case of the communicator fixture).
import { afterAll, describe, expect, it } from 'vitest';
import { assertNothingLeft, disposeAllJobs, fixture, linesOf, runJob } from '../helpers/job.js';

afterAll(disposeAllJobs);

const RING_EXIT = fixture('finalize/ring-exit.ts');
const UNRECEIVED = fixture('finalize/unreceived.ts');
const WAITS = fixture('finalize/waits-for-finished.ts');
const COMM_CASES = fixture('comm/cases.ts');

function describeRun(r: { code: number | null; stdout: string; stderr: string }): string {
  return `exit ${r.code}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;
}

describe('a rank whose program is done never makes a peer fail', () => {
  // Every run must succeed. Each case runs once here; the stress loops (the ring and the unreceived large
  // messages, 200 runs per rank count and mode) are too long for the suite: test/stress/finalize-exit.sh.
  const cases: [string, string, string[], Record<string, string>][] = [
    ['a ring sendrecv of a 16 MiB object, then the end', RING_EXIT, [], {}],
    ['the same, ending with an explicit finalize()', RING_EXIT, ['finalize'], {}],
    ['the same over TCP', RING_EXIT, [], { TSMPI_TRANSPORT: 'tcp' }],
    ['small messages nobody receives, then the end', UNRECEIVED, [], {}],
    ['and a large one by rendezvous nobody receives, with an explicit finalize()', UNRECEIVED, ['large', 'finalize'], {}],
    ['every message by rendezvous, nobody receives them, over TCP', UNRECEIVED, ['large'], { TSMPI_EAGER_LIMIT: '0', TSMPI_TRANSPORT: 'tcp' }],
  ];
  for (const np of [3, 4, 8]) {
    it.each(cases)(`${np} ranks: %s`, async (_name, script, args, env) => {
      const r = await runJob({ np, script, args, env, timeoutMs: 60_000, launcherArgs: ['--timeout', '50'] });
      await assertNothingLeft(r, { graceMs: 2000 });
      expect(r.code, describeRun(r)).toBe(0);
      const lines = linesOf(r.stdout);
      const marker = script === RING_EXIT ? 'RING' : 'DONE';
      for (let rank = 0; rank < np; rank++) {
        expect(lines.some((l) => l.startsWith(`${marker} rank=${rank}`)), describeRun(r)).toBe(true);
      }
    }, 100_000);
  }
});

describe('a rank waiting for one that has finished fails at once, saying so', () => {
  const expected: [string, RegExp][] = [
    ['recv', /rank 0 waits in recv\(source=2, tag=5\) on COMM_WORLD, but rank 2 has finished/],
    ['early', /rank 0 waits in recv\(source=2, tag=5\) on COMM_WORLD, but rank 2 has finished/],
    ['any', /rank 0 waits in recv\(source=ANY_SOURCE, tag=5\) on COMM_WORLD, but every other rank of it has finished/],
    ['send', /rank 0 waits in send\(dest=2, tag=5\) on COMM_WORLD, but rank 2 has finished/],
    ['bcast', /rank 0 waits in bcast\(root=0\) \(collective #1 on COMM_WORLD\), but rank [12] has finished/],
  ];
  it.each(expected)('%s', async (kind, message) => {
    const r = await runJob({ np: 3, script: WAITS, args: [kind], timeoutMs: 60_000, launcherArgs: ['--timeout', '50'] });
    await assertNothingLeft(r, { graceMs: 2000 });
    const text = describeRun(r);
    // The program lets the error escape: the job fails with it (not a timeout, not a deadlock report).
    expect(r.code, text).toBe(1);
    const waited = /WAIT code=(\S+) ms=(\d+)/.exec(r.stdout);
    expect(waited, text).not.toBeNull();
    expect(waited![1], text).toBe('TSMPI_ERR_PEER_FINISHED');
    expect(r.stdout, text).toMatch(message);
    expect(r.stderr, text).not.toContain('deadlock');
  });
});

describe('free() with operations pending', () => {
  it.each([2, 3, 5])('%i ranks: pending receives, sends and collectives complete; new calls fail', async (np) => {
    const r = await runJob({ np, script: COMM_CASES, args: ['free-pending'], env: { TSMPI_EAGER_LIMIT: '65536' }, timeoutMs: 60_000, launcherArgs: ['--timeout', '50'] });
    await assertNothingLeft(r, { graceMs: 2000 });
    expect(r.code, describeRun(r)).toBe(0);
    expect(linesOf(r.stdout).filter((l) => l.startsWith('OK free-pending ')).length, describeRun(r)).toBe(np);
  });
});
