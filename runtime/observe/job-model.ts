// The recordings of a job put together: every rank's events on one time line (nanoseconds since the
// job's first recorded moment, clocks aligned by clock.ts), the spans of each rank with the bytes
// their messages moved, and every message matched from its send to its delivery by its identity
// (recorder.ts: source, destination, and its number among that pair's announcements).
import { offsetAt } from './clock.js';
import { callName, isCollective } from './calls.js';
import type { Recording, RecordingMeta } from './format.js';
import { EventKind, F64_PER_EVENT, I32_PER_EVENT, SpanFlag } from './recorder.js';

/** One call of the program, in job time (ns). */
export interface Span {
  rank: number;
  id: number;
  call: number;
  name: string;
  start: number;
  end: number;
  /** A rank of its communicator (-1 ANY_SOURCE, -2 PROC_NULL: none); a collective's root or -1. */
  peer: number;
  tag: number;
  context: number;
  root: number;
  comm: string;
  failed: boolean;
  /** Still in progress when the rank finalized (or failed). */
  unfinished: boolean;
  /** Bytes of the messages it sent and of those delivered to its receives. */
  sent: number;
  received: number;
}

/** One end of a message, in job time (ns). */
export interface MessageEnd {
  rank: number;
  kind: 'send' | 'deliver';
  at: number;
  /** The span it belongs to (0: none recorded). */
  owner: number;
  call: number;
  /** The world rank at the other end. */
  peer: number;
  bytes: number;
  /** Its number among the announcements of its pair of ranks (from 1). */
  index: number;
  context: number;
  tag: number;
}

/** A message seen at both ends. */
export interface Flow {
  id: number;
  send: MessageEnd;
  deliver: MessageEnd;
  /** Sent inside a collective (on a collective context). */
  collective: boolean;
}

export interface RankModel {
  rank: number;
  meta: RecordingMeta;
  /** Events that arrived (a rank that died while sending has fewer than its meta says). */
  events: number;
  spans: Span[];
  spanById: Map<number, Span>;
  messages: MessageEnd[];
  /** Job time of the rank's first and last recorded moment. */
  start: number;
  end: number;
  /** When the rank's recording reached its event cap (job time), if it did. */
  capReachedAt: number | undefined;
}

export interface JobModel {
  size: number;
  ranks: (RankModel | undefined)[];
  /** Matched messages, by flowId. */
  flows: Map<number, Flow>;
  /** Recorded at one end only (the other end's rank dropped or lost events, or the message was never received). */
  unmatchedSends: number;
  unmatchedDelivers: number;
}

/**
 * A flow's id from its identity: a number in [1, 2^53), never 0, the same on both ends. The pair
 * (source, dest) takes the high bits, the message's number the rest.
 */
export function flowId(source: number, dest: number, index: number, size: number): number {
  const pairBits = Math.max(1, Math.ceil(Math.log2(size * size)));
  const indexRange = 2 ** (53 - pairBits);
  return (source * size + dest) * indexRange + (index % indexRange);
}

/** ns of job time for each rank's local times: aligned clocks, zero at the earliest recorded start. */
function timeBases(recordings: readonly (Recording | undefined)[]): (t: number, rank: number) => number {
  const present = recordings.filter((r): r is Recording => r !== undefined);
  const origin = Math.min(...present.map((r) => r.meta.timeOrigin));
  // Local ms → ms since `origin` on the collector's clock.
  const relative = (t: number, rank: number): number => {
    const m = recordings[rank]!.meta;
    return (m.timeOrigin - origin) + t + offsetAt(m.clock, t);
  };
  const zero = Math.min(...present.map((r) => relative(r.meta.start, r.meta.rank)));
  return (t, rank) => Math.round((relative(t, rank) - zero) * 1e6);
}

/** The job's recordings (by rank; undefined where a rank sent none) as one model. */
export function buildJobModel(recordings: readonly (Recording | undefined)[]): JobModel {
  const size = recordings.find((r) => r !== undefined)?.meta.size ?? recordings.length;
  const toJob = timeBases(recordings);
  const ranks: (RankModel | undefined)[] = new Array(size).fill(undefined);
  const sends = new Map<number, MessageEnd>();
  const delivers = new Map<number, MessageEnd>();
  for (const rec of recordings) {
    if (!rec) continue;
    const { meta, f64, i32, count } = rec;
    const rank = meta.rank;
    const model: RankModel = {
      rank, meta, events: count, spans: [], spanById: new Map(), messages: [],
      start: toJob(meta.start, rank), end: toJob(meta.end, rank),
      capReachedAt: meta.firstDropAt === null ? undefined : toJob(meta.firstDropAt, rank),
    };
    for (let e = 0; e < count; e++) {
      const f = e * F64_PER_EVENT, i = e * I32_PER_EVENT;
      const kind = i32[i]! & 0xff, flags = i32[i]! >> 8;
      if (kind === EventKind.Span) {
        const start = toJob(f64[f]!, rank);
        const span: Span = {
          rank, id: i32[i + 2]!, call: i32[i + 1]!, name: callName(i32[i + 1]!), start, end: Math.max(start, toJob(f64[f + 1]!, rank)),
          peer: i32[i + 3]!, tag: i32[i + 4]!, context: i32[i + 5]!, root: i32[i + 6]!, comm: meta.strings[i32[i + 7]!] ?? '?',
          failed: (flags & SpanFlag.Failed) !== 0, unfinished: (flags & SpanFlag.Unfinished) !== 0, sent: 0, received: 0,
        };
        model.spans.push(span);
        model.spanById.set(span.id, span);
        continue;
      }
      const end: MessageEnd = {
        rank, kind: kind === EventKind.Send ? 'send' : 'deliver', at: toJob(f64[f]!, rank), owner: i32[i + 2]!, call: i32[i + 1]!,
        peer: i32[i + 3]!, bytes: f64[f + 2]!, index: f64[f + 1]!, context: i32[i + 5]!, tag: i32[i + 4]!,
      };
      model.messages.push(end);
      const id = end.kind === 'send' ? flowId(rank, end.peer, end.index, size) : flowId(end.peer, rank, end.index, size);
      (end.kind === 'send' ? sends : delivers).set(id, end);
    }
    for (const m of model.messages) {
      const owner = model.spanById.get(m.owner);
      if (!owner) continue;
      if (m.kind === 'send') owner.sent += m.bytes;
      else owner.received += m.bytes;
    }
    ranks[rank] = model;
  }
  const flows = new Map<number, Flow>();
  for (const [id, send] of sends) {
    const deliver = delivers.get(id);
    if (deliver) flows.set(id, { id, send, deliver, collective: (send.context & 1) === 1 || isCollective(send.call) });
  }
  return { size, ranks, flows, unmatchedSends: sends.size - flows.size, unmatchedDelivers: delivers.size - flows.size };
}
