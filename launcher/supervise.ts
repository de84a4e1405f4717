// Supervision of a running job: the first rank that fails (non-zero exit, signal, abort) decides the
// exit status and ends the job; the others are sent SIGTERM, then SIGKILL after a grace period.
// Signals to tsmpirun end every rank. Exit status (API.md): 0 when every rank exits 0; otherwise the
// code of the first rank that failed (128+signal for a signal), or the code given to abort().
//
// What the user reads of a failure: the failing rank's own report comes first (the rank prints it), and
// the job's last lines say what became of the others, in one line however many there are, and what the
// failing rank did. The others' errors (TSMPI_ERR_PEER_LOST, only because that rank was lost) are not
// printed at all (runtime/env/failure.ts).
import { constants } from 'node:os';

/** Time a rank gets between SIGTERM and SIGKILL when the job is being ended. */
export const KILL_GRACE_MS = 1000;
/**
 * After a rank fails, the others are told (peer-lost) and get this long to release what waited on it
 * with TSMPI_ERR_PEER_LOST before SIGTERM arrives.
 */
export const PEER_LOST_NOTICE_MS = 200;
/** Exit status of a job ended by --timeout (as coreutils timeout(1)). */
export const TIMEOUT_EXIT_STATUS = 124;
/** Exit status of a job ended because every rank was blocked (deadlock detection). */
export const DEADLOCK_EXIT_STATUS = 125;

export interface SupervisedRank {
  readonly rank: number;
  readonly pid: number | undefined;
  kill(signal: NodeJS.Signals): void;
}

export function signalNumber(signal: NodeJS.Signals): number {
  return constants.signals[signal] ?? 0;
}

export class Supervisor {
  private readonly live = new Set<number>();
  private status: number | undefined;
  private ending = false;
  private killTimer: NodeJS.Timeout | undefined;
  /** The job's first failure: which rank, and what it did ("exited with code 3", "called abort(4)"…). */
  private failure: { rank: number; what: string; exitedOnly: boolean } | undefined;
  /** Other ranks that ended otherwise than by exiting 0 once the job was failing. */
  private stoppedAfterFailure = 0;

  constructor(
    private readonly ranks: readonly SupervisedRank[],
    private readonly say: (line: string) => void,
  ) {
    for (const r of ranks) this.live.add(r.rank);
  }

  get liveRanks(): ReadonlySet<number> {
    return this.live;
  }

  get isEnding(): boolean {
    return this.ending;
  }

  /** The exit status the job ends with. */
  get exitStatus(): number {
    return this.status ?? 0;
  }

  /** A rank's process ended. Returns true when it was the job's first failure. */
  rankExited(rank: number, code: number | null, signal: NodeJS.Signals | null): boolean {
    this.live.delete(rank);
    if (this.live.size === 0 && this.killTimer) clearTimeout(this.killTimer);
    if (this.ending) {
      if (this.failure !== undefined && rank !== this.failure.rank && (code !== 0 || signal !== null)) this.stoppedAfterFailure++;
      return false;
    }
    if (signal) return this.fail(rank, 128 + signalNumber(signal), `was killed by ${signal}`);
    if (code !== 0) return this.fail(rank, code ?? 1, `exited with code ${code}`, true);
    return false;
  }

  /** `what`: what the rank did, as it said ("called abort(4)", "threw an uncaught TypeError: …"). */
  rankAborted(rank: number, code: number, what: string): boolean {
    if (this.ending) {
      // The rank said why it failed, but its exit was seen first (a rank thread's exit status and its
      // control message come on different pipes, in either order): its own words are the better summary.
      if (this.failure?.rank === rank && this.failure.exitedOnly) this.failure = { rank, what, exitedOnly: false };
      return false;
    }
    return this.fail(rank, code, what);
  }

  /** Ends the job with a status of our own (timeout, deadlock, signal to tsmpirun). */
  end(status: number, why: string): void {
    if (this.ending) return;
    this.status = status;
    this.say(`tsmpirun: ${why}; ending the job`);
    this.terminateAll();
  }

  /** A second interrupt: no more grace. */
  killNow(): void {
    for (const r of this.ranks) if (this.live.has(r.rank)) r.kill('SIGKILL');
  }

  /** Once every rank has ended and its output is out: how the failure ended the job, as its last lines. */
  summarize(): void {
    if (this.failure === undefined) return;
    const { rank, what } = this.failure;
    const others = this.stoppedAfterFailure;
    if (others > 0) this.say(`tsmpirun: ${others} other rank${others === 1 ? '' : 's'} stopped because rank ${rank} failed`);
    this.say(`tsmpirun: rank ${rank} ${what}`);
  }

  private fail(rank: number, status: number, what: string, exitedOnly = false): boolean {
    this.status = status;
    this.ending = true;
    this.failure = { rank, what, exitedOnly };
    this.killTimer = setTimeout(() => this.terminateAll(), PEER_LOST_NOTICE_MS);
    return true;
  }

  private terminateAll(): void {
    this.ending = true;
    for (const r of this.ranks) if (this.live.has(r.rank)) r.kill('SIGTERM');
    if (this.live.size > 0) {
      this.killTimer = setTimeout(() => this.killNow(), KILL_GRACE_MS);
    } else {
      this.killTimer = undefined;
    }
  }
}
