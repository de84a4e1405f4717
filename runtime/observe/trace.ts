// --trace FILE: the job as Chrome trace-event JSON, which ui.perfetto.dev and Chrome's trace viewers
// open. What their importers need, and how this file gives it to them:
//  - One process per rank (pid rank + 1: pid 0 means "no process" to Perfetto), named "rank R"; its
//    calls on threads (tids unique across the whole file: Perfetto names threads by tid alone, and tid 0
//    means "same as pid"). Slices on one thread must nest, so calls that overlap in time (isend,
//    promises awaited together) go to further lanes, threads "rank R · lane k".
//  - Each call is a complete event (ph X, cat "comm") with its arguments: communicator, peer, tag,
//    bytes sent and received.
//  - Each message end is a child slice of its call (cat "msg") starting at the moment the message left
//    or met its receive, and a flow joins the two: ph "s" at the send's child slice, ph "f" with
//    "bp":"e" at the delivery's. Perfetto binds a v1 flow event to the topmost slice open on its thread
//    at that moment (flow_tracker.cc; it does not pop slices that have ended) and sorts events of one
//    time stamp with complete events first, longest first (trace_sorter.h); Chrome DevTools binds a flow
//    event to the first event with the same ts, pid, tid and cat (FlowsHandler.js). A child slice that
//    starts exactly at its flow event, in cat "msg", satisfies both; children of one call get distinct
//    start times, so no flow sees another's slice. s and f share id, cat and name; the id is a number
//    in [1, 2^53) (job-model.ts flowId).
//  - Events are written in time order, streamed (gzip when FILE ends in .gz), never built as one string.
//  - A rank whose recording hit the event cap gets an instant event saying how many events it dropped.
import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { ANY_SOURCE, ANY_TAG, PROC_NULL } from '../constants.js';
import { isCollective, isNonBlocking } from './calls.js';
import type { JobModel, MessageEnd, Span } from './job-model.js';

/** Lanes (threads) per rank at most; a call that would need more is left out, and the trace says so. */
export const MAX_LANES = 256;
/** A message's child slice lasts this long at most (ns), or until the next one of its call. */
const CHILD_NS = 2000;

/** Kinds of trace records, in the order they are written at one time stamp. */
const SPAN = 0, CHILD = 1, FLOW_START = 2, FLOW_END = 3, NOTE = 4;

/** Where a message end's child slice went. */
interface Placed {
  ts: number;
  lane: number;
}

/** What writeTrace wrote. */
export interface TraceSummary {
  events: number;
  flows: number;
  /** Lanes used per rank. */
  lanes: number[];
  notes: string[];
}

/** pid of a rank (pid 0 is special). */
export const pidOf = (rank: number): number => rank + 1;
/** tid of a rank's lane: unique over the file, never 0. */
export const tidOf = (rank: number, lane: number): number => (rank + 1) * 1000 + lane;

/** A time in ns as trace µs with three decimals, exactly. */
function micros(ns: number): string {
  const whole = Math.floor(ns / 1000), frac = ns - whole * 1000;
  return `${whole}.${String(frac).padStart(3, '0')}`;
}

function rankName(r: number): number | string {
  return r === ANY_SOURCE ? 'ANY_SOURCE' : r === PROC_NULL ? 'PROC_NULL' : r;
}

/** The call's arguments as the trace shows them. */
function spanArgs(s: Span): Record<string, unknown> {
  const args: Record<string, unknown> = { comm: s.comm };
  if (isCollective(s.call)) {
    if (s.root >= 0) args.root = s.root;
  } else {
    const receives = /^(i?recv|I?[Rr]ecv|i?probe)$/i.test(s.name);
    args[receives ? 'source' : 'dest'] = rankName(s.peer);
    args.tag = s.tag === ANY_TAG ? 'ANY_TAG' : s.tag;
  }
  args.bytes_sent = s.sent;
  args.bytes_received = s.received;
  if (isNonBlocking(s.call)) args.until = 'the request completed';
  if (s.failed) args.status = 'failed';
  if (s.unfinished) args.status = 'unfinished at the end of the recording';
  return args;
}

function childName(m: MessageEnd): string {
  return m.kind === 'send' ? `send → ${m.peer}` : `recv ← ${m.peer}`;
}

/** Records of the whole job, as columns: time, kind, duration, lane, and what they refer to. */
class Records {
  ts: number[] = [];
  kind: number[] = [];
  dur: number[] = [];
  rank: number[] = [];
  lane: number[] = [];
  ref: unknown[] = [];
  add(ts: number, kind: number, dur: number, rank: number, lane: number, ref: unknown): void {
    this.ts.push(ts); this.kind.push(kind); this.dur.push(dur); this.rank.push(rank); this.lane.push(lane); this.ref.push(ref);
  }
}

/**
 * Lays out one rank: children of each call at distinct times inside it (a call is stretched by a few
 * ns when it must hold more than fit), then calls on the first lane free at their start. Returns the
 * lanes used and the calls left out.
 */
function layoutRank(spans: readonly Span[], orphans: readonly MessageEnd[], childrenOf: Map<number, MessageEnd[]>, rank: number,
  out: Records, placed: Map<MessageEnd, Placed>): { lanes: number; dropped: number } {
  interface Item { start: number; end: number; span?: Span; children: MessageEnd[]; at: number[] }
  const items: Item[] = [];
  for (const span of spans) {
    const children = (childrenOf.get(span.id) ?? []).sort((a, b) => a.at - b.at);
    const at: number[] = [];
    let previous = -Infinity;
    for (const c of children) {
      const t = Math.max(span.start, Math.min(c.at, span.end - 1), previous + 1);
      at.push(t);
      previous = t;
    }
    const end = Math.max(span.end, span.start + 1, previous + 1);
    items.push({ start: span.start, end, span, children, at });
  }
  // A message whose call was not recorded (the cap) stands alone.
  for (const m of orphans) items.push({ start: m.at, end: m.at + CHILD_NS, children: [m], at: [m.at] });
  items.sort((a, b) => a.start - b.start || b.end - a.end);
  const laneEnds: number[] = [];
  let dropped = 0;
  for (const item of items) {
    let lane = laneEnds.findIndex((end) => end <= item.start);
    if (lane < 0) {
      if (laneEnds.length >= MAX_LANES) { dropped++; continue; }
      lane = laneEnds.length;
      laneEnds.push(0);
    }
    laneEnds[lane] = item.end;
    if (item.span) out.add(item.start, SPAN, item.end - item.start, rank, lane, item.span);
    for (let k = 0; k < item.children.length; k++) {
      const t = item.at[k]!;
      const next = k + 1 < item.at.length ? item.at[k + 1]! : item.end;
      out.add(t, CHILD, Math.max(1, Math.min(CHILD_NS, next - t, item.end - t)), rank, lane, item.children[k]!);
      placed.set(item.children[k]!, { ts: t, lane });
    }
  }
  return { lanes: laneEnds.length, dropped };
}

/** The trace as an iterator of JSON lines, in the order they must be written. */
function* traceLines(job: JobModel, header: Record<string, unknown>, summary: TraceSummary): Generator<string> {
  const records = new Records();
  const placed = new Map<MessageEnd, Placed>();
  const meta: string[] = [];
  for (const model of job.ranks) {
    if (!model) continue;
    const childrenOf = new Map<number, MessageEnd[]>();
    const orphans: MessageEnd[] = [];
    for (const m of model.messages) {
      if (model.spanById.has(m.owner)) {
        let list = childrenOf.get(m.owner);
        if (!list) childrenOf.set(m.owner, (list = []));
        list.push(m);
      } else {
        orphans.push(m);
      }
    }
    const r = model.rank;
    const { lanes, dropped } = layoutRank(model.spans, orphans, childrenOf, r, records, placed);
    summary.lanes[r] = lanes;
    const pid = pidOf(r);
    meta.push(JSON.stringify({ ph: 'M', pid, tid: tidOf(r, 0), name: 'process_name', args: { name: `rank ${r}` } }));
    meta.push(JSON.stringify({ ph: 'M', pid, tid: tidOf(r, 0), name: 'process_sort_index', args: { sort_index: r } }));
    for (let lane = 0; lane < Math.max(1, lanes); lane++) {
      const tid = tidOf(r, lane);
      meta.push(JSON.stringify({ ph: 'M', pid, tid, name: 'thread_name', args: { name: lane === 0 ? `rank ${r}` : `rank ${r} · lane ${lane}` } }));
      meta.push(JSON.stringify({ ph: 'M', pid, tid, name: 'thread_sort_index', args: { sort_index: lane } }));
    }
    const notes: string[] = [];
    if (model.meta.dropped > 0) {
      notes.push(`rank ${r} reached its event cap of ${model.meta.settings.eventCap} (TSMPI_OBSERVE_EVENTS): `
        + `${model.meta.dropped} later events were not recorded, so the trace ends early for rank ${r}`);
    }
    if (model.events < model.meta.events) notes.push(`rank ${r} sent ${model.events} of its ${model.meta.events} events before it ended`);
    if (dropped > 0) notes.push(`rank ${r}: ${dropped} calls overlapped more than ${MAX_LANES} others and are left out`);
    for (const note of notes) {
      summary.notes.push(note);
      records.add(model.capReachedAt ?? model.end, NOTE, 0, r, 0, note);
    }
  }
  for (const flow of job.flows.values()) {
    const s = placed.get(flow.send), f = placed.get(flow.deliver);
    if (!s || !f) continue;
    records.add(s.ts, FLOW_START, 0, flow.send.rank, s.lane, flow.id);
    records.add(f.ts, FLOW_END, 0, flow.deliver.rank, f.lane, flow.id);
    summary.flows++;
  }
  const n = records.ts.length;
  const order = new Uint32Array(n).map((_, i) => i);
  const { ts, kind, dur } = records;
  order.sort((a, b) => ts[a]! - ts[b]! || kind[a]! - kind[b]! || dur[b]! - dur[a]! || a - b);

  yield `{"displayTimeUnit":"ms","otherData":${JSON.stringify({ ...header, notes: [...((header.notes as string[] | undefined) ?? []), ...summary.notes] })},\n"traceEvents":[\n`;
  let first = true;
  const line = (text: string): string => {
    const out = first ? text : `,\n${text}`;
    first = false;
    summary.events++;
    return out;
  };
  for (const m of meta) yield line(m);
  for (const i of order) {
    const r = records.rank[i]!, pid = pidOf(r), tid = tidOf(r, records.lane[i]!), at = micros(ts[i]!);
    switch (kind[i]) {
      case SPAN: {
        const s = records.ref[i] as Span;
        yield line(`{"ph":"X","cat":"comm","name":${JSON.stringify(s.name)},"pid":${pid},"tid":${tid},"ts":${at},"dur":${micros(dur[i]!)},"args":${JSON.stringify(spanArgs(s))}}`);
        break;
      }
      case CHILD: {
        const m = records.ref[i] as MessageEnd;
        const args = { [m.kind === 'send' ? 'dest' : 'source']: m.peer, tag: m.tag, bytes: m.bytes, message: m.index };
        yield line(`{"ph":"X","cat":"msg","name":${JSON.stringify(childName(m))},"pid":${pid},"tid":${tid},"ts":${at},"dur":${micros(dur[i]!)},"args":${JSON.stringify(args)}}`);
        break;
      }
      case NOTE:
        yield line(`{"ph":"i","s":"t","cat":"tsmpi","name":${JSON.stringify(`tsmpi: ${records.ref[i] as string}`)},"pid":${pid},"tid":${tid},"ts":${at}}`);
        break;
      case FLOW_START:
        yield line(`{"ph":"s","cat":"msg","name":"message","id":${records.ref[i] as number},"pid":${pid},"tid":${tid},"ts":${at}}`);
        break;
      case FLOW_END:
        yield line(`{"ph":"f","bp":"e","cat":"msg","name":"message","id":${records.ref[i] as number},"pid":${pid},"tid":${tid},"ts":${at}}`);
        break;
    }
  }
  yield '\n]}\n';
}

/** Writes `lines` to `sink` in chunks, waiting for the sink to drain. */
async function stream(lines: Iterable<string>, sink: Writable): Promise<void> {
  let chunk = '';
  for (const text of lines) {
    chunk += text;
    if (chunk.length >= 1 << 16) {
      if (!sink.write(chunk)) await new Promise((resolve) => sink.once('drain', resolve));
      chunk = '';
    }
  }
  await new Promise<void>((resolve, reject) => {
    sink.once('error', reject);
    sink.end(chunk, () => resolve());
  });
}

/** Writes the job's trace to `path` (gzip-compressed when it ends in .gz). */
export async function writeTrace(path: string, job: JobModel, header: Record<string, unknown>): Promise<TraceSummary> {
  const summary: TraceSummary = { events: 0, flows: 0, lanes: [], notes: [] };
  const file = createWriteStream(path);
  const done = new Promise<void>((resolve, reject) => {
    file.once('close', resolve);
    file.once('error', reject);
  });
  if (path.endsWith('.gz')) {
    const gzip = createGzip();
    gzip.pipe(file);
    await stream(traceLines(job, header, summary), gzip);
  } else {
    await stream(traceLines(job, header, summary), file);
  }
  await done;
  return summary;
}
