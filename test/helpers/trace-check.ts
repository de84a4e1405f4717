// A checker of Chrome trace-event JSON against the rules by which Perfetto's importer and Chrome
// DevTools bind what tsmpi writes (runtime/observe/trace.ts), so that a trace that would lose arrows
// or slices in ui.perfetto.dev fails a test here:
//  - events are written in time order; pid and tid are never 0; a tid belongs to one pid;
//  - Perfetto orders events of one time stamp with complete events first, the longest first, then
//    the others in file order (trace_sorter.h, SlowOperatorLess), and treats slices as half-open;
//  - complete events (X) of one thread nest: a slice that starts inside an open one must end inside it;
//  - a v1 flow event binds to the topmost slice on its thread's stack (flow_tracker.cc; ended slices are
//    not popped for it), and DevTools binds it to the event with the same ts, pid, tid and cat
//    (FlowsHandler.js): so the topmost slice must start exactly at the flow event, in the flow's cat;
//  - the end of an arrow ("f", with "bp":"e") must bind to a child slice (depth ≥ 1) starting at the
//    moment of delivery, not to a receive that began earlier; "s" and "f" share id, cat and name, ids
//    are integers in [1, 2^53), each id has one start and one end.
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

export interface TraceEvent {
  ph: string;
  name?: string;
  cat?: string;
  pid?: number;
  tid?: number;
  ts?: number;
  dur?: number;
  id?: number;
  bp?: string;
  s?: string;
  args?: Record<string, unknown>;
}

export interface Slice {
  event: TraceEvent;
  /** ns, as Perfetto rounds them. */
  start: number;
  end: number;
  depth: number;
  parent: Slice | undefined;
}

export interface Arrow {
  id: number;
  from: Slice;
  to: Slice;
}

export interface TraceCheck {
  /** Everything wrong, one line each (empty: the trace passes). */
  problems: string[];
  events: TraceEvent[];
  otherData: Record<string, unknown>;
  slices: Slice[];
  arrows: Arrow[];
  /** process_name and thread_name metadata. */
  processNames: Map<number, string>;
  threadNames: Map<number, string>;
}

/** Perfetto's conversion of a JSON time in µs to ns (json_trace_tokenizer.cc CoerceToTs). */
export function toNs(us: number): number {
  return Number.isInteger(us) ? us * 1000 : Math.round(us * 1000);
}

/** Reads a trace file (.gz or plain) and checks it. */
export function checkTraceFile(path: string): TraceCheck {
  const raw = readFileSync(path);
  const text = (raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw) : raw).toString('utf8');
  return checkTrace(JSON.parse(text) as unknown);
}

export function checkTrace(json: unknown): TraceCheck {
  const problems: string[] = [];
  const root = json as { traceEvents?: unknown; otherData?: Record<string, unknown> };
  const events = (Array.isArray(json) ? json : root.traceEvents) as TraceEvent[];
  const result: TraceCheck = {
    problems, events: Array.isArray(events) ? events : [], otherData: root.otherData ?? {}, slices: [], arrows: [],
    processNames: new Map(), threadNames: new Map(),
  };
  if (!Array.isArray(events)) {
    problems.push('no traceEvents array');
    return result;
  }
  const pidOfTid = new Map<number, number>();
  let lastTs = -Infinity;
  events.forEach((e, i) => {
    if (typeof e.pid !== 'number' || e.pid === 0) problems.push(`event ${i} (${e.ph} ${e.name}): pid ${e.pid} (0 or missing)`);
    if (typeof e.tid !== 'number' || e.tid === 0) problems.push(`event ${i} (${e.ph} ${e.name}): tid ${e.tid} (0 or missing)`);
    const known = pidOfTid.get(e.tid!);
    if (known !== undefined && known !== e.pid) problems.push(`tid ${e.tid} is used by pids ${known} and ${e.pid}`);
    pidOfTid.set(e.tid!, e.pid!);
    if (e.ph === 'M') {
      if (e.name === 'process_name') result.processNames.set(e.pid!, String(e.args?.name));
      if (e.name === 'thread_name') result.threadNames.set(e.tid!, String(e.args?.name));
      return;
    }
    if (typeof e.ts !== 'number' || e.ts < 0) problems.push(`event ${i}: ts ${e.ts}`);
    if (e.ts! < lastTs) problems.push(`event ${i} (${e.ph} ${e.name}) at ts ${e.ts} comes after ts ${lastTs}: not in time order`);
    lastTs = Math.max(lastTs, e.ts!);
    if (e.ph === 'X' && !(typeof e.dur === 'number' && e.dur >= 0)) problems.push(`event ${i}: X without a duration`);
  });

  // Perfetto's order: by ns; at one time stamp X first (longest first), then the rest in file order.
  const key = (e: TraceEvent): number => (e.ph === 'E' ? -Infinity : e.ph === 'X' ? -toNs(e.dur!) : Infinity);
  const order = events.map((e, i) => i).filter((i) => events[i]!.ph !== 'M')
    .sort((a, b) => toNs(events[a]!.ts!) - toNs(events[b]!.ts!) || key(events[a]!) - key(events[b]!) || a - b);

  const stacks = new Map<number, Slice[]>();
  const flowStarts = new Map<string, { slice: Slice; event: TraceEvent }>();
  const flowEnds = new Map<string, { slice: Slice; event: TraceEvent }>();
  const idsSeen = new Map<number, string>();
  for (const i of order) {
    const e = events[i]!;
    const at = toNs(e.ts!);
    let stack = stacks.get(e.tid!);
    if (!stack) stacks.set(e.tid!, (stack = []));
    if (e.ph === 'X' || e.ph === 'i' || e.ph === 'I') {
      const dur = e.ph === 'X' ? toNs(e.dur!) : 0;
      // Slices that ended by now (half-open; an instant only pops what ends before it or at it).
      while (stack.length > 0 && (stack[stack.length - 1]!.end < at || (stack[stack.length - 1]!.end === at && !(dur === 0 && stack[stack.length - 1]!.end === stack[stack.length - 1]!.start)))) stack.pop();
      const parent = stack[stack.length - 1];
      if (parent && at + dur > parent.end) {
        problems.push(`tid ${e.tid}: "${e.name}" [${e.ts}, +${e.dur}] overlaps "${parent.event.name}" [${parent.event.ts}, +${parent.event.dur}] without nesting in it`);
        continue;
      }
      const slice: Slice = { event: e, start: at, end: at + dur, depth: stack.length, parent };
      result.slices.push(slice);
      stack.push(slice);
      continue;
    }
    if (e.ph === 's' || e.ph === 'f') {
      const where = `flow ${e.ph} id ${e.id} at ts ${e.ts} tid ${e.tid}`;
      if (typeof e.id !== 'number' || !Number.isInteger(e.id) || e.id < 1 || e.id >= 2 ** 53) problems.push(`${where}: id is not an integer in [1, 2^53)`);
      if (e.ph === 'f' && e.bp !== 'e') problems.push(`${where}: no "bp":"e"`);
      const identity = `${e.cat}\u0000${e.name}`;
      const other = idsSeen.get(e.id!);
      if (other !== undefined && other !== identity) problems.push(`${where}: s and f of the id differ in cat or name`);
      idsSeen.set(e.id!, identity);
      // Perfetto: the topmost slice of the track, ended or not.
      const top = stack[stack.length - 1];
      if (!top) { problems.push(`${where}: no slice to bind to`); continue; }
      if (top.start !== at || top.event.cat !== e.cat) {
        problems.push(`${where}: binds to "${top.event.name}" (cat ${top.event.cat}) which starts at ${top.event.ts}, not to a slice of cat ${e.cat} starting at the flow event`);
        continue;
      }
      if (e.ph === 'f' && top.depth < 1) problems.push(`${where}: ends on "${top.event.name}", which is not a child slice`);
      const map = e.ph === 's' ? flowStarts : flowEnds;
      if (map.has(String(e.id))) problems.push(`${where}: a second ${e.ph} with this id`);
      map.set(String(e.id), { slice: top, event: e });
    }
  }
  for (const [id, start] of flowStarts) {
    const end = flowEnds.get(id);
    if (!end) { problems.push(`flow id ${id} starts but never ends`); continue; }
    result.arrows.push({ id: Number(id), from: start.slice, to: end.slice });
  }
  for (const id of flowEnds.keys()) if (!flowStarts.has(id)) problems.push(`flow id ${id} ends but never starts`);
  return result;
}
