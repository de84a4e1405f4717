// A rank's recording as it travels to whoever writes the outputs (tsmpirun over the control plane, or
// rank 0 through a file under a PMI launcher): a list of parts, each at most PART_BYTES so that every
// one fits a control frame. The first byte of a part says what it holds:
//  - PART_META: a piece of the msgpack-encoded RecordingMeta (the pieces, in order, make it whole);
//  - PART_EVENTS: n whole events, n·24 bytes of float64 columns then n·32 bytes of int32 columns.
// The meta comes first, so that a rank which dies while sending still leaves a usable prefix of its
// events. Decoding checks every number before it is believed (a malformed recording is an error,
// never a crash or an allocation a peer chose).
//
// Event layout (recorder.ts writes it): float64 [t0, t1 | index, bytes], int32 [kind | flags << 8,
// call, span | owner span, peer, tag, context, root, comm name]. Times are performance.now() of the
// rank, in ms; a span's peer is a rank of its communicator, a message's peer a world rank.
import { Packr } from 'msgpackr';
import { tsmpiError } from '../errors.js';
import { describeSite } from './sites.js';
import {
  EVENT_CHUNK, EventKind, F64_PER_EVENT, I32_PER_EVENT, SIZE_BUCKETS, type ObserveSettings, type Recorder,
} from './recorder.js';

/** Largest part: a control frame (1 MiB) holds one with room for its envelope. */
export const PART_BYTES = 768 * 1024;
export const PART_META = 0;
export const PART_EVENTS = 1;
/** Bytes one event takes in a part. */
export const EVENT_BYTES = F64_PER_EVENT * 8 + I32_PER_EVENT * 4;

/** Everything but the events. */
export interface RecordingMeta {
  v: 1;
  rank: number;
  size: number;
  /** Host identity (host name, boot id, network namespace): ranks with the same one share a clock. */
  host: string;
  /** performance.timeOrigin of the rank (ms since the epoch); event times are relative to it. */
  timeOrigin: number;
  start: number;
  end: number;
  /** Time with at least one call in progress (ms). */
  busy: number;
  settings: ObserveSettings;
  /** Communicator names, referred to by spans. */
  strings: string[];
  /** [call, count, total ms, sum of squares, max ms] */
  calls: [number, number, number, number, number][];
  /** [call, site, count, total ms, sum of squares, max ms] over the sampled calls */
  sites: [number, string, number, number, number, number][];
  /** [call, messages, bytes, min, max, histogram] of the messages each call sent */
  sizes: [number, number, number, number, number, number[]][];
  /** Per destination d: [2d] user traffic, [2d+1] collective-internal traffic. */
  matrixBytes: number[];
  matrixMessages: number[];
  /** Events that follow in PART_EVENTS parts, and those the cap dropped (the first at firstDropAt). */
  events: number;
  dropped: number;
  firstDropAt: number | null;
  /** Offsets to the collector's clock: [local time, offset ms, round trip ms]; none on the collector's host. */
  clock: [number, number, number][];
}

/** A decoded recording: the meta and every event received, in columns. */
export interface Recording {
  meta: RecordingMeta;
  f64: Float64Array;
  i32: Int32Array;
  /** Events present (fewer than meta.events when the rank died while sending). */
  count: number;
}

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

/** The sampled sites of a recorder as the program's sources name them, merged where they name one line. */
function describedSites(rec: Recorder): RecordingMeta['sites'] {
  const merged = new Map<string, RecordingMeta['sites'][number]>();
  for (const { call, site, totals: t } of rec.sites.values()) {
    const described = describeSite(site);
    const key = `${call} ${described}`;
    const m = merged.get(key);
    if (!m) merged.set(key, [call, described, t.count, t.total, t.sumSquares, t.max]);
    else { m[2] += t.count; m[3] += t.total; m[4] += t.sumSquares; m[5] = Math.max(m[5], t.max); }
  }
  return [...merged.values()];
}

/** The meta of a stopped recorder. */
export function recordingMeta(rec: Recorder, host: string): RecordingMeta {
  const calls: RecordingMeta['calls'] = [];
  rec.calls.forEach((t, call) => { if (t) calls.push([call, t.count, t.total, t.sumSquares, t.max]); });
  const sizes: RecordingMeta['sizes'] = [];
  rec.sizes.forEach((t, call) => { if (t) sizes.push([call, t.count, t.bytes, t.min, t.max, Array.from(t.histogram)]); });
  return {
    v: 1, rank: rec.rank, size: rec.size, host, timeOrigin: performance.timeOrigin, start: rec.start, end: rec.end,
    busy: rec.busyTime(rec.end), settings: rec.settings, strings: rec.strings, calls,
    sites: describedSites(rec),
    sizes, matrixBytes: Array.from(rec.matrixBytes), matrixMessages: Array.from(rec.matrixMessages),
    events: rec.events.count, dropped: rec.dropped, firstDropAt: Number.isNaN(rec.firstDropAt) ? null : rec.firstDropAt,
    clock: rec.clockSamples,
  };
}

/** A stopped recorder as parts, each at most PART_BYTES. */
export function encodeRecording(rec: Recorder, host: string): Uint8Array[] {
  const parts: Uint8Array[] = [];
  const meta = packr.pack(recordingMeta(rec, host));
  for (let off = 0; off === 0 || off < meta.length; off += PART_BYTES - 1) {
    const piece = meta.subarray(off, off + PART_BYTES - 1);
    const part = new Uint8Array(1 + piece.length);
    part[0] = PART_META;
    part.set(piece, 1);
    parts.push(part);
  }
  const perPart = Math.floor((PART_BYTES - 1) / EVENT_BYTES);
  const { f64, i32, count } = rec.events;
  for (let first = 0; first < count; first += perPart) {
    const n = Math.min(perPart, count - first);
    const part = new Uint8Array(1 + n * EVENT_BYTES);
    part[0] = PART_EVENTS;
    const floats = new Float64Array(n * F64_PER_EVENT), ints = new Int32Array(n * I32_PER_EVENT);
    for (let k = 0; k < n; k++) {
      const e = first + k, c = (e / EVENT_CHUNK) | 0, o = e - c * EVENT_CHUNK;
      floats.set(f64[c]!.subarray(o * F64_PER_EVENT, (o + 1) * F64_PER_EVENT), k * F64_PER_EVENT);
      ints.set(i32[c]!.subarray(o * I32_PER_EVENT, (o + 1) * I32_PER_EVENT), k * I32_PER_EVENT);
    }
    part.set(new Uint8Array(floats.buffer), 1);
    part.set(new Uint8Array(ints.buffer), 1 + floats.byteLength);
    parts.push(part);
  }
  return parts;
}

function bad(rank: number | undefined, what: string): never {
  throw tsmpiError('TSMPI_ERR_PROTOCOL', `${rank === undefined ? 'a' : `rank ${rank}'s`} recording is malformed: ${what}`);
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isInt = (v: unknown, min: number, max: number): v is number => isNum(v) && Number.isInteger(v) && v >= min && v <= max;
const isTuple = (v: unknown, n: number): v is unknown[] => Array.isArray(v) && v.length === n;

/** Checks a decoded meta field by field. */
function checkMeta(m: Record<string, unknown>, expectedRank: number | undefined): RecordingMeta {
  const rank = isInt(m.rank, 0, 2 ** 31) ? m.rank : undefined;
  const fail = (what: string): never => bad(expectedRank ?? rank, what);
  if (m.v !== 1) fail(`version ${String(m.v)}`);
  if (rank === undefined || !isInt(m.size, 1, 2 ** 31) || rank >= m.size) fail('rank/size');
  if (expectedRank !== undefined && rank !== expectedRank) fail(`it says rank ${rank}`);
  const size = m.size as number;
  if (typeof m.host !== 'string' || !isNum(m.timeOrigin) || !isNum(m.start) || !isNum(m.end) || !isNum(m.busy)) fail('times');
  const s = m.settings as Record<string, unknown> | undefined;
  if (typeof s !== 'object' || s === null || typeof s.profile !== 'boolean' || typeof s.trace !== 'boolean'
    || typeof s.matrix !== 'boolean' || !isInt(s.eventCap, 0, 2 ** 40)) fail('settings');
  if (!Array.isArray(m.strings) || !m.strings.every((x) => typeof x === 'string')) fail('strings');
  if (!Array.isArray(m.calls) || !m.calls.every((c) => isTuple(c, 5) && c.every(isNum))) fail('calls');
  if (!Array.isArray(m.sites) || !m.sites.every((c) => isTuple(c, 6) && isNum(c[0]) && typeof c[1] === 'string' && c.slice(2).every(isNum))) fail('sites');
  if (!Array.isArray(m.sizes) || !m.sizes.every((c) => isTuple(c, 6) && c.slice(0, 5).every(isNum)
    && Array.isArray(c[5]) && c[5].length === SIZE_BUCKETS && (c[5] as unknown[]).every(isNum))) fail('sizes');
  for (const key of ['matrixBytes', 'matrixMessages'] as const) {
    const v = m[key];
    if (!Array.isArray(v) || v.length !== 2 * size || !v.every((x) => isNum(x) && x >= 0)) fail(key);
  }
  if (!isInt(m.events, 0, 2 ** 40) || !isInt(m.dropped, 0, Number.MAX_SAFE_INTEGER) || !(m.firstDropAt === null || isNum(m.firstDropAt))) fail('event counts');
  if (!Array.isArray(m.clock) || !m.clock.every((c) => isTuple(c, 3) && c.every(isNum))) fail('clock');
  return m as unknown as RecordingMeta;
}

/**
 * The recording of `parts` in the order they were sent; `expectedRank`: whose it must be. A rank that
 * died while sending leaves fewer events than its meta announced (`count` says how many arrived);
 * without a whole meta there is no recording.
 */
export function decodeRecording(parts: readonly Uint8Array[], expectedRank?: number): Recording {
  const metaPieces: Uint8Array[] = [];
  const eventParts: Uint8Array[] = [];
  for (const part of parts) {
    if (part.length < 1) bad(expectedRank, 'an empty part');
    if (part[0] === PART_META) {
      if (eventParts.length > 0) bad(expectedRank, 'meta after events');
      metaPieces.push(part.subarray(1));
    } else if (part[0] === PART_EVENTS) {
      if ((part.length - 1) % EVENT_BYTES !== 0) bad(expectedRank, 'a part of partial events');
      eventParts.push(part.subarray(1));
    } else {
      bad(expectedRank, `part kind ${part[0]}`);
    }
  }
  if (metaPieces.length === 0) bad(expectedRank, 'no meta');
  let decoded: unknown;
  try {
    decoded = packr.unpack(Buffer.concat(metaPieces));
  } catch {
    bad(expectedRank, 'the meta is not msgpack');
  }
  if (typeof decoded !== 'object' || decoded === null) bad(expectedRank, 'the meta is not a map');
  const meta = checkMeta(decoded as Record<string, unknown>, expectedRank);
  let count = 0;
  for (const p of eventParts) count += p.length / EVENT_BYTES;
  if (count > meta.events) bad(expectedRank, `${count} events where ${meta.events} were announced`);
  const f64 = new Float64Array(count * F64_PER_EVENT), i32 = new Int32Array(count * I32_PER_EVENT);
  let at = 0;
  for (const p of eventParts) {
    const n = p.length / EVENT_BYTES;
    // Copies (new Uint8Array of a view copies, where a Buffer's slice would not): a part's bytes need
    // not be aligned for typed views.
    f64.set(new Float64Array(new Uint8Array(p.subarray(0, n * F64_PER_EVENT * 8)).buffer), at * F64_PER_EVENT);
    i32.set(new Int32Array(new Uint8Array(p.subarray(n * F64_PER_EVENT * 8)).buffer), at * I32_PER_EVENT);
    at += n;
  }
  for (let e = 0; e < count; e++) {
    const kind = i32[e * I32_PER_EVENT]! & 0xff;
    if (kind !== EventKind.Span && kind !== EventKind.Send && kind !== EventKind.Deliver) bad(meta.rank, `event kind ${kind}`);
    if (!Number.isFinite(f64[e * F64_PER_EVENT]!)) bad(meta.rank, 'an event time');
    if (kind !== EventKind.Span && !(i32[e * I32_PER_EVENT + 3]! >= 0 && i32[e * I32_PER_EVENT + 3]! < meta.size)) bad(meta.rank, 'a message peer');
  }
  return { meta, f64, i32, count };
}
