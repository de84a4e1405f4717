// Hang reports and deadlock detection. tsmpirun asks every live rank what it is doing; a rank busy
// computing cannot answer (its event loop is busy), which is itself an answer: it is not stuck.
// A deadlock is declared only when two snapshots taken DEADLOCK_POLL_MS apart agree that every live
// rank is blocked in communication for at least DEADLOCK_MIN_BLOCKED_S and no rank sent or received
// anything in between (frame and byte counters unchanged, so no message, not even a large one that
// is still streaming, is in flight).
import type { PendingOperationReport, RankState } from '../runtime/control/messages.js';

export const DEADLOCK_POLL_MS = 500;
export const DEADLOCK_MIN_BLOCKED_S = 1;
/** How long ranks get to answer a request for their state. */
export const STATE_REPORT_WAIT_MS = 400;

export type Snapshot = Map<number, RankState>;

function describeOp(rank: number, o: PendingOperationReport): string {
  const who = o.peer === -1 ? 'any rank' : `rank ${o.peer}`;
  const seconds = `for ${o.seconds.toFixed(1)} s`;
  switch (o.op) {
    case 'recv':
    case 'probe':
      return `  rank ${rank}: blocked in ${o.op} on ${o.comm} from ${who}, ${o.tag === -1 ? 'any tag' : `tag ${o.tag}`}, ${seconds}`;
    case 'send':
    case 'ssend':
      return `  rank ${rank}: blocked in ${o.op} on ${o.comm} to ${who}, tag ${o.tag}, ${seconds}`;
    default:
      return `  rank ${rank}: blocked in ${o.op}${o.peer >= 0 ? `(root=${o.peer})` : ''} on ${o.comm}${o.number ? ` (collective #${o.number})` : ''}, ${seconds}`;
  }
}

/** A collective call in which two ranks made different calls: who, and what each called. */
export interface CallConflict {
  ctx: number;
  tag: number;
  /** Every rank in the call, with what it called. */
  calls: { rank: number; op: string; root: number }[];
}

/**
 * Collective calls that ranks reported with different names or roots for the same call (context and
 * tag) of a communicator. Messages tell ranks of most such mismatches; this finds the ones where the
 * two sides exchange no message (e.g. a broadcast whose ranks disagree on its root wait along trees
 * that never meet) and would otherwise only end as a deadlock.
 */
export function findCallConflicts(snapshot: Snapshot): CallConflict[] {
  const calls = new Map<string, CallConflict>();
  for (const [rank, state] of snapshot) {
    for (const o of state.ops) {
      if (o.ctx === undefined) continue;
      const key = `${o.ctx}:${o.tag}`;
      let call = calls.get(key);
      if (!call) calls.set(key, (call = { ctx: o.ctx, tag: o.tag, calls: [] }));
      call.calls.push({ rank, op: o.op, root: o.peer });
    }
  }
  return [...calls.values()].filter((c) => c.calls.some((x) => x.op !== c.calls[0]!.op || x.root !== c.calls[0]!.root));
}

export function describeSnapshot(live: readonly number[], snapshot: Snapshot): string {
  return live.map((rank) => {
    const state = snapshot.get(rank);
    if (!state) return `  rank ${rank}: no answer (busy computing, or not in the event loop)`;
    if (state.finished) return `  rank ${rank}: finished (waiting for the others to finish)`;
    if (state.ops.length === 0) return `  rank ${rank}: not waiting for any tsmpi operation`;
    const more = state.omitted > 0 ? `\n  rank ${rank}: … and ${state.omitted} more pending operations` : '';
    return state.ops.map((o) => describeOp(rank, o)).join('\n') + more;
  }).join('\n');
}

/**
 * Every live rank answered, is blocked, and has been so long enough; a finished rank counts as blocked
 * (it can only wait), but a job whose ranks have all finished is ending, not deadlocked.
 */
function allBlocked(live: readonly number[], snapshot: Snapshot): boolean {
  return live.length > 0 && live.some((rank) => snapshot.get(rank)?.finished === false) && live.every((rank) => {
    const s = snapshot.get(rank);
    return s !== undefined && s.blocked && (s.finished || s.ops.some((o) => o.seconds >= DEADLOCK_MIN_BLOCKED_S));
  });
}

function sameCounters(live: readonly number[], a: Snapshot, b: Snapshot): boolean {
  return live.every((rank) => {
    const x = a.get(rank), y = b.get(rank);
    return x !== undefined && y !== undefined && x.framesOut === y.framesOut && x.framesIn === y.framesIn && x.bytesIn === y.bytesIn;
  });
}

/** Judges successive snapshots; `observe` returns true when the job is deadlocked. */
export class DeadlockDetector {
  private previous: Snapshot | undefined;

  observe(live: readonly number[], snapshot: Snapshot, everyRankAlive: boolean): boolean {
    const blocked = allBlocked(live, snapshot);
    const previous = this.previous;
    this.previous = blocked ? snapshot : undefined;
    if (!blocked || !previous) return false;
    if (!sameCounters(live, previous, snapshot)) return false;
    if (everyRankAlive) {
      // With every rank reporting, sent and received frames must balance: nothing is in flight.
      let out = 0, inn = 0;
      for (const s of snapshot.values()) { out += s.framesOut; inn += s.framesIn; }
      if (out !== inn) return false;
    }
    return true;
  }
}

interface OpenRequest {
  readonly awaited: Set<number>;
  readonly snapshot: Snapshot;
  readonly finish: () => void;
}

/**
 * Requests for the ranks' states (`report-state`, answered by `state`). A request ends when every
 * awaited rank has answered or lost its control connection, or after STATE_REPORT_WAIT_MS. A rank
 * that has exited cannot answer: waiting for it held up the end of one job in four by up to
 * STATE_REPORT_WAIT_MS, whenever the deadlock poll fell on the ranks' exit.
 */
export class StateRequests {
  readonly #open = new Map<number, OpenRequest>();
  #lastId = 0;

  /** `request(id)` sends the request to every connected rank. */
  constructor(private readonly request: (id: number) => void) {}

  /** The states of `awaited` (ranks connected now) that arrive in time. */
  collect(awaited: Iterable<number>): Promise<Snapshot> {
    const id = ++this.#lastId;
    const snapshot: Snapshot = new Map();
    const waitingFor = new Set(awaited);
    if (waitingFor.size === 0) return Promise.resolve(snapshot);
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(deadline);
        this.#open.delete(id);
        resolve(snapshot);
      };
      const deadline = setTimeout(finish, STATE_REPORT_WAIT_MS);
      this.#open.set(id, { awaited: waitingFor, snapshot, finish });
      this.request(id);
    });
  }

  answered(rank: number, id: number, state: RankState): void {
    const open = this.#open.get(id);
    if (!open || !open.awaited.delete(rank)) return;
    open.snapshot.set(rank, state);
    if (open.awaited.size === 0) open.finish();
  }

  disconnected(rank: number): void {
    for (const open of [...this.#open.values()]) {
      if (open.awaited.delete(rank) && open.awaited.size === 0) open.finish();
    }
  }
}
