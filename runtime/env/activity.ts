// What a rank is doing, as tsmpirun's hang reports and deadlock detection need it. A rank counts as
// blocked only when the program awaits some communication and nothing of its own (a timer, a file
// read, a child process) is pending that could wake it: such a rank can only move if a message comes.
import { MAX_REPORTED_OPS, type RankState } from '../control/messages.js';
import type { Engine } from '../p2p/engine.js';
import { loopHolders } from '../p2p/liveness.js';

/** Resources that never wake a program by themselves: its own stdio pipes and terminals. */
const IGNORED_RESOURCES = new Set(['PipeWrap', 'TTYWrap']);

function hasOwnActivity(): boolean {
  let timers = 0;
  for (const r of process.getActiveResourcesInfo()) {
    if (IGNORED_RESOURCES.has(r)) continue;
    if (r === 'Timeout') { timers++; continue; }
    return true;
  }
  // While communication is pending, one timer is the runtime's own keep-alive.
  return timers > (loopHolders() > 0 ? 1 : 0);
}

export function rankState(engine: Engine): RankState {
  const { ops, total, anyAwaited } = engine.pendingOperations(MAX_REPORTED_OPS);
  // A rank in its finalize fence can only wait: it counts as blocked, whatever it still serves.
  const finished = engine.finishing;
  return {
    ops: ops.map((o) => (o.collective
      ? { op: o.op, comm: engine.commName(o.context), peer: o.peer, tag: o.tag, seconds: o.seconds, ctx: o.context, number: engine.collectiveNumber(o.context, o.tag) }
      : { op: o.op, comm: engine.contextName(o.context), peer: o.peer, tag: o.tag, seconds: o.seconds })),
    blocked: finished || (anyAwaited && !hasOwnActivity()),
    finished,
    framesOut: engine.framesOut, framesIn: engine.framesIn, bytesIn: engine.bytesIn,
    omitted: total - ops.length,
  };
}
