// Issue 6, "Failures": a rank that throws, rejects unhandled, calls process.exit(3), is SIGKILLed from
// outside, or calls abort(7) ends the whole job within 2 s of the event, with a message naming the rank and
// the cause and tsmpirun's exit status as API.md says (1, 1, 3, 137, 7); peers blocked in a receive from
// the dead rank are released with TSMPI_ERR_PEER_LOST before they are terminated. tsmpirun itself
// SIGKILLed: every rank is gone within 2 s, and the job's Unix-socket directory is removed too.
// Each case also checks that no process, socket file or job directory of the job remains.
//
// Timing: "the event" is the victim's own timestamp, printed (synchronously) right before it fails, or the
// moment this test sends SIGKILL; "the end" is when tsmpirun's exit reached this test — an upper bound.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { assertNothingLeft, disposeAllJobs, fixture, linesOf, startJob } from '../helpers/job.js';
import { isAlive, waitFor } from '../fixtures/failure/proc.js';

const FAIL = fixture('failure/fail.ts');
const NP = 3;
const VICTIM = 1;
/** The bound between the event and the end of the job. */
const BOUND_MS = 2000;

afterEach(async () => {
  await disposeAllJobs();
});

function pidsOf(stdout: string): Map<number, number> {
  const pids = new Map<number, number>();
  for (const m of stdout.matchAll(/^PID rank=(\d+) pid=(\d+)$/gm)) pids.set(Number(m[1]), Number(m[2]));
  return pids;
}

interface Case {
  mode: 'throw' | 'reject' | 'exit' | 'abort' | 'sigkill';
  status: number;
  /** tsmpirun's own line naming the rank and the cause. */
  launcherSays: RegExp;
  /** The rank's own error output, when it has any. */
  rankSays?: RegExp;
}

const CASES: Case[] = [
  {
    mode: 'throw', status: 1,
    launcherSays: /^tsmpirun: .*rank 1\b.*BOOM-throw from rank 1/m,
    rankSays: /^\[rank 1\] .*Error: BOOM-throw from rank 1[\s\S]*fail\.ts:\d+/m,
  },
  {
    mode: 'reject', status: 1,
    launcherSays: /^tsmpirun: .*rank 1\b.*BOOM-reject from rank 1/m,
    rankSays: /^\[rank 1\] .*(unhandled|rejection).*BOOM-reject from rank 1/im,
  },
  { mode: 'exit', status: 3, launcherSays: /^tsmpirun: .*rank 1\b.*(exit|code).*\b3\b/m },
  { mode: 'sigkill', status: 137, launcherSays: /^tsmpirun: .*rank 1\b.*(SIGKILL|signal 9)/m },
  { mode: 'abort', status: 7, launcherSays: /^tsmpirun: .*rank 1\b.*abort.*\b7\b/m },
];

/** Runs one failure scenario and checks everything the issue asks of it. */
async function failureCase(c: Case, victim: number, quiet: boolean, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  const others = Array.from({ length: NP }, (_, r) => r).filter((r) => r !== victim);
  const job = startJob({ np: NP, script: FAIL, args: [quiet ? `quiet-${c.mode}` : c.mode, String(victim)], timeoutMs: 30_000, keepStdinOpen: quiet });
  if (quiet) {
    // Every peer is blocked in its receive from the victim before the victim is told to fail.
    await job.waitForLines(/^BLOCKED rank=\d+$/, NP - 1);
    job.child.stdin!.write('go\n');
  }
  let eventAt: number;
  if (c.mode === 'sigkill') {
    const line = await job.waitForLine(new RegExp(`^KILLME rank=${victim} pid=\\d+$`));
    const pid = Number(/pid=(\d+)/.exec(line.text)![1]);
    eventAt = Date.now();
    process.kill(pid, signal);
  } else {
    const line = await job.waitForLine(new RegExp(`^EVENT rank=${victim} at=\\d+$`));
    eventAt = Number(/at=(\d+)/.exec(line.text)![1]);
  }
  const result = await job.result;
  const endedAt = Date.now();
  const text = job.describe(result);
  const says = (re: RegExp) => new RegExp(re.source.replace(/rank 1/g, `rank ${victim}`), re.flags);

  expect(result.code, text).toBe(c.status);
  expect(result.signal, text).toBeNull();
  expect(endedAt - eventAt, `job ended ${endedAt - eventAt} ms after the event\n${text}`).toBeLessThan(BOUND_MS);
  expect(result.stderr, text).toMatch(says(c.launcherSays));
  if (c.rankSays) expect(result.stderr, text).toMatch(says(c.rankSays));

  // Every peer was blocked in a receive from the victim; those that were released before being
  // terminated must have been released with TSMPI_ERR_PEER_LOST, and at least one must have been.
  const out = linesOf(result.stdout);
  expect(out.filter((l) => l.startsWith('BLOCKED ')), text).toHaveLength(NP - 1);
  expect(out.filter((l) => l.startsWith('UNEXPECTED')), text).toEqual([]);
  const released = out.filter((l) => l.startsWith('PEERLOST '));
  for (const l of released) expect(l, text).toMatch(new RegExp(`^PEERLOST rank=(${others.join('|')}) code=TSMPI_ERR_PEER_LOST .*rank ${victim}\\b`));
  expect(released.length, `no blocked peer was released with TSMPI_ERR_PEER_LOST before being terminated\n${text}`)
    .toBeGreaterThanOrEqual(1);

  const pids = pidsOf(result.stdout);
  expect(pids.size, text).toBe(NP);
  for (const [rank, pid] of pids) expect(isAlive(pid), `rank ${rank} (pid ${pid}) outlived tsmpirun`).toBe(false);
  await assertNothingLeft(job);
}

/**
 * With ranks as threads (TSMPI_RANKS=threads) a signal reaches the one process of every rank of the host:
 * killing "a rank" from outside kills them all, so those cases apply to rank processes only (the test of
 * tsmpirun killed outright covers the process of rank threads).
 */
const threads = process.env.TSMPI_RANKS === 'threads';
const perRankCases = CASES.filter((c) => !(threads && c.mode === 'sigkill'));

describe('a failing rank ends the job (peers blocked in a receive from it, connected to it)', () => {
  for (const c of perRankCases) {
    it(`${c.mode}: exit status ${c.status}, rank and cause named, within ${BOUND_MS} ms, peers see TSMPI_ERR_PEER_LOST, nothing left`, async () => {
      await failureCase(c, VICTIM, false);
    });
  }
  it.skipIf(threads)('SIGTERM from outside: exit status 143, rank and signal named, within 2000 ms, peers released, nothing left', async () => {
    await failureCase({ mode: 'sigkill', status: 143, launcherSays: /^tsmpirun: .*rank 1\b.*(SIGTERM|signal 15)/m }, VICTIM, false, 'SIGTERM');
  });
});

describe('a failing rank ends the job (peers blocked in a receive from it, never connected to it: only tsmpirun can tell them)', () => {
  for (const c of perRankCases) {
    it(`${c.mode}: exit status ${c.status}, rank and cause named, within ${BOUND_MS} ms, peers see TSMPI_ERR_PEER_LOST, nothing left`, async () => {
      await failureCase(c, 0, true);
    });
  }
});

describe('tsmpirun interrupted (SIGINT, SIGTERM)', () => {
  for (const [signal, status] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    it(`${signal}: every rank ends, exit status ${status}, within ${BOUND_MS} ms, nothing left`, async () => {
      const job = startJob({ np: NP, script: FAIL, args: ['launcher', String(VICTIM)], timeoutMs: 30_000 });
      const ready = await job.waitForLines(/^READY rank=\d+ pid=\d+ dir=/, NP);
      const pids = ready.map((l) => Number(/pid=(\d+)/.exec(l.text)![1]));
      const sentAt = Date.now();
      job.signal(signal);
      const result = await job.result;
      const text = job.describe(result);
      expect(result.code, text).toBe(status);
      expect(Date.now() - sentAt, text).toBeLessThan(BOUND_MS);
      expect(result.stderr, text).toMatch(new RegExp(signal));
      for (const pid of pids) expect(isAlive(pid), `pid ${pid} outlived tsmpirun`).toBe(false);
      await assertNothingLeft(job);
    });
  }
});

describe('tsmpirun killed with SIGKILL', () => {
  it(`every rank (blocked or busy) is gone within ${BOUND_MS} ms, and the job directory is removed`, async () => {
    const job = startJob({ np: NP, script: FAIL, args: ['launcher', String(VICTIM)], timeoutMs: 30_000 });
    const ready = await job.waitForLines(/^READY rank=\d+ pid=\d+ dir=/, NP);
    const ranks = ready.map((l) => {
      const m = /^READY rank=(\d+) pid=(\d+) dir=(.*)$/.exec(l.text)!;
      return { rank: Number(m[1]), pid: Number(m[2]), dir: m[3]! };
    });
    const dir = ranks[0]!.dir;
    expect(dir, job.describe()).not.toBe('');
    expect(existsSync(dir), job.describe()).toBe(true);
    expect(statSync(dir).mode & 0o777, 'the job directory must be private (0700)').toBe(0o700);
    for (const r of ranks) expect(isAlive(r.pid), `rank ${r.rank} is not running`).toBe(true);

    const killedAt = Date.now();
    job.signal('SIGKILL');
    const result = await job.result;
    expect(result.signal).toBe('SIGKILL');

    const allGone = await waitFor(() => ranks.every((r) => !isAlive(r.pid)), BOUND_MS + 3000);
    const left = ranks.filter((r) => isAlive(r.pid)).map((r) => `rank ${r.rank} (pid ${r.pid})`);
    expect(allGone, `ranks still running ${Date.now() - killedAt} ms after tsmpirun was SIGKILLed: ${left.join(', ')}`).toBeDefined();
    expect(allGone!, `the ranks took ${allGone} ms to notice tsmpirun's death`).toBeLessThan(BOUND_MS);

    const dirGone = await waitFor(() => !existsSync(dir), BOUND_MS);
    const contents = existsSync(dir) ? readdirSync(dir).join(', ') : '';
    expect(dirGone, `the job directory ${dir} (${contents}) still exists ${BOUND_MS} ms after tsmpirun was SIGKILLed`).toBeDefined();
    await assertNothingLeft(job, { graceMs: BOUND_MS });
  });
});

describe('one rank of 16 fails while the others wait for it in a collective', () => {
  it('its error is the first and the last thing printed; the 15 others are one line', async () => {
    const job = startJob({ np: 16, script: fixture('failure/one-of-many.ts'), args: ['2'], timeoutMs: 60_000 });
    const result = await job.result;
    const text = job.describe(result);
    expect(result.code, text).toBe(1);
    expect(result.stdout, text).toBe('');
    const lines = linesOf(result.stderr);
    expect(lines[0], text).toBe('[rank 2] uncaught exception: TypeError: rank 2 cannot read its input');
    // Then rank 2's stack (pointing at the program's lines), and nothing of the other ranks.
    const report = lines.slice(0, -2);
    expect(report.every((l) => l.startsWith('[rank 2] ')), text).toBe(true);
    expect(report.some((l) => /^\[rank 2\]\s+at readInput \(.*one-of-many\.ts:\d+:\d+\)$/.test(l)), text).toBe(true);
    expect(report.length, text).toBeLessThanOrEqual(8);
    expect(lines.slice(-2), text).toEqual([
      'tsmpirun: 15 other ranks stopped because rank 2 failed',
      'tsmpirun: rank 2 threw an uncaught TypeError: rank 2 cannot read its input',
    ]);
    await assertNothingLeft(job);
  });
});
