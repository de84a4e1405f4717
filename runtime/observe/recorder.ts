// What one rank records while --profile, --trace or --comm-matrix (or their TSMPI_* twins) is on:
// spans of the program's communication calls, the messages that leave and that reach a receive, and
// exact running totals for the profile and the communication matrix. One Recorder per rank, held by
// its engine (engine.recorder), never by the process: ranks that are threads of one process each
// have their own. With nothing asked for there is no Recorder, and every hook is one `undefined` test.
//
// Bounded: events go into typed arrays of EVENT_CHUNK events each, up to a cap (settings.eventCap);
// past it events are counted as dropped, never stored, and the outputs say so. The totals (calls,
// time, message sizes, the matrix) stay exact whatever the cap.
//
// Preallocated: the chunks for the cap (up to PREFAULTED_EVENT_BYTES) are allocated when recording
// starts, and a zero is written into every page of them then. The first write to a fresh page costs a
// page fault, and made in the middle of a call it costs the call: ~11 µs a page on the VM these numbers
// come from, ~160 ns per 56-byte event, half of what recording added to a call (a span and its
// message) in a ping-pong of rank threads. Score-P, likewise, takes its 16 MB per process at start.
//
// Message identity, without a byte on the wire. Between one pair of ranks, messages are announced in
// the order they were sent: a sender writes every frame of a destination on one connection, in call
// order (queued frames of a connection being made keep their order), and the receiver handles the
// frames of a connection in order. So the n-th announcement that rank s makes to rank d — an EAGER
// frame or the RTS of a rendezvous — is the n-th announcement that d takes from s. The sender counts
// in messageSent, the receiver in messageArrived, and (s, d, n) names the message on both sides
// (flowId). Every path of p2p/engine.ts counts once and only once, checked against its code:
//  - sendTyped's and sendObject's eager fast paths: counted where the frame is built;
//  - sendParts: eager copied, eager in place and rendezvous are counted after the checks that fail a
//    send without writing anything (a lost link, a rendezvous to a finished peer); the receiver counts
//    EAGER frames at their header (onHeader) and RTS frames in onFrame, both in connection order;
//  - sends to oneself: counted in sendParts, and the arrival sendToSelf makes counts on the receiving
//    side at once, so both counters of the pair (r, r) move together;
//  - DATA, CTS, CREDIT, SYNC_ACK and FIN frames announce nothing and are not counted; error markers
//    (COLL_ERROR) are not messages of the program and are counted on neither side;
//  - messages on UNOBSERVED_CONTEXT (the runtime's own clock pings) are counted on neither side.
// The count is per pair, across all contexts: contexts share the pair's connection and its order.
import { OBSERVED_CALLS } from './calls.js';

/** What to record. */
export interface ObserveSettings {
  profile: boolean;
  trace: boolean;
  matrix: boolean;
  /** Events kept per rank at most (spans and message ends); later ones are counted as dropped. */
  eventCap: number;
}

/**
 * Events per rank by default (TSMPI_OBSERVE_EVENTS changes it): 14 MiB at most, and tsmpirun holds every
 * rank's events at once while it writes the trace. A 4-rank diffusion2d.ts of 13 500 steps makes ~160 000.
 */
export const DEFAULT_EVENT_CAP = 1 << 18;

/** A context no communicator uses (they use 0 … 4095): the runtime's own clock pings travel on it. */
export const UNOBSERVED_CONTEXT = 0xffff_fff0;

/** Kinds of recorded events. */
export const EventKind = { Span: 1, Send: 2, Deliver: 3 } as const;

/** Span flags (stored above the kind). */
export const SpanFlag = { Failed: 1, Unfinished: 2 } as const;

/** Numbers stored per event: three float64 and eight int32 (layout in format.ts). */
export const F64_PER_EVENT = 3;
export const I32_PER_EVENT = 8;
/** Events per chunk of storage. */
export const EVENT_CHUNK = 8192;
/** Storage allocated and touched when recording starts, at most (the default cap takes 14 MiB); chunks past it are allocated as they fill. */
export const PREFAULTED_EVENT_BYTES = 64 * 1024 * 1024;
const CHUNK_BYTES = EVENT_CHUNK * (F64_PER_EVENT * 8 + I32_PER_EVENT * 4);
/** Bytes of a memory page (4 KiB on the platforms Node runs on; a larger page is touched more than once, harmlessly). */
const PAGE_BYTES = 4096;

/** Message-size histogram buckets: 0 B, then [2^(k-1), 2^k) for k = 1 … 47. */
export const SIZE_BUCKETS = 48;

/** Running totals of one call (or call site): count, total and squared total in ms, longest call. */
export class CallTotals {
  count = 0;
  total = 0;
  sumSquares = 0;
  max = 0;
  add(ms: number): void {
    this.count++;
    this.total += ms;
    this.sumSquares += ms * ms;
    if (ms > this.max) this.max = ms;
  }
}

/** Sizes of the messages one call sent: count, bytes, smallest, largest and a log2 histogram. */
export class SizeTotals {
  count = 0;
  bytes = 0;
  min = Infinity;
  max = 0;
  readonly histogram = new Float64Array(SIZE_BUCKETS);
  add(bytes: number): void {
    this.count++;
    this.bytes += bytes;
    if (bytes < this.min) this.min = bytes;
    if (bytes > this.max) this.max = bytes;
    this.histogram[sizeBucket(bytes)]!++;
  }
}

/** The histogram bucket of a message of `bytes` bytes. */
export function sizeBucket(bytes: number): number {
  return bytes === 0 ? 0 : Math.min(SIZE_BUCKETS - 1, Math.floor(Math.log2(bytes)) + 1);
}

/** The stored events of a rank: float64 and int32 columns, EVENT_CHUNK events per chunk. */
export interface EventChunks {
  f64: Float64Array[];
  i32: Int32Array[];
  count: number;
}

/**
 * One rank's recorder. The engine calls messageSent, messageArrived, postingSpan and
 * messageDelivered; communicators call beginSpan/endSpan around each public call and set `current`
 * while a call's own code runs, so that a message knows the call it belongs to.
 */
export class Recorder {
  readonly rank: number;
  readonly size: number;
  readonly settings: ObserveSettings;
  /** performance.now() when recording began: the rank has joined (env/observe.ts sets it then). */
  start: number;
  /** performance.now() when recording ended (finalize), or NaN while it runs. */
  end = NaN;
  /** The span whose call's own code is running (0: none); set by communicators around engine calls. */
  current = 0;
  /** That call's id (calls.ts), also when its span was not stored (the cap): message sizes go to it. */
  currentCall = 0;
  /** A public call's own code is running: the calls it makes itself are part of it, not spans. */
  inCall = false;
  /**
   * When that call began (its span's start): the time of the messages it sends while its own code runs,
   * which is within a microsecond of it, and saves each a clock read (~45-80 ns here).
   */
  callStart = 0;
  /** Calls made so far, per call id (call sites are sampled by it). */
  readonly callCounts = new Uint32Array(OBSERVED_CALLS.length);
  /** Announcements made to each rank, and taken from each rank (the message identity, above). */
  private readonly sentTo: Float64Array;
  private readonly arrivedFrom: Float64Array;
  /** Per destination rank: bytes and messages of user traffic [2d] and of collective-internal traffic [2d+1]. */
  readonly matrixBytes: Float64Array;
  readonly matrixMessages: Float64Array;
  /** Per call id. */
  readonly calls: (CallTotals | undefined)[] = [];
  readonly sizes: (SizeTotals | undefined)[] = [];
  /** Per sampled call site: `callId site` → totals. */
  readonly sites = new Map<string, { call: number; site: string; totals: CallTotals }>();
  /** Time during which at least one call was in progress (ms), and the bookkeeping for it. */
  private busy = 0;
  private openCalls = 0;
  private busySince = 0;
  /** Strings events refer to (communicator names). */
  readonly strings: string[] = [];
  private readonly stringIds = new Map<string, number>();
  readonly events: EventChunks = { f64: [], i32: [], count: 0 };
  /** Events not stored because the cap was reached, and when the first of them happened. */
  dropped = 0;
  firstDropAt = NaN;
  /** Clock offsets to the collector's clock measured at start and end: [local time, offset ms, round trip ms]. */
  readonly clockSamples: [number, number, number][] = [];
  private readonly storeEvents: boolean;

  constructor(rank: number, size: number, settings: ObserveSettings, now: number = performance.now()) {
    this.rank = rank;
    this.size = size;
    this.settings = settings;
    this.start = now;
    this.sentTo = new Float64Array(size);
    this.arrivedFrom = new Float64Array(size);
    this.matrixBytes = new Float64Array(size * 2);
    this.matrixMessages = new Float64Array(size * 2);
    // The profile needs events too: wait states pair sends with receives across ranks.
    this.storeEvents = settings.trace || settings.profile;
    if (this.storeEvents && settings.eventCap > 0) {
      const chunks = Math.max(1, Math.min(Math.ceil(settings.eventCap / EVENT_CHUNK), Math.floor(PREFAULTED_EVENT_BYTES / CHUNK_BYTES)));
      for (let k = 0; k < chunks; k++) this.addChunk();
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Engine hooks

  /** A message to `dest` is announced (EAGER or RTS, or a send to oneself). */
  messageSent(dest: number, bytes: number, context: number, tag: number): void {
    if (context === UNOBSERVED_CONTEXT) return;
    const index = ++this.sentTo[dest]!;
    const cell = 2 * dest + (context & 1);
    this.matrixBytes[cell]! += bytes;
    this.matrixMessages[cell]!++;
    const owner = this.current, call = this.currentCall;
    (this.sizes[call] ??= new SizeTotals()).add(bytes);
    if (this.storeEvents) this.message(EventKind.Send, this.inCall ? this.callStart : performance.now(), owner, call, dest, bytes, index, context, tag);
  }

  /** A message from `source` is announced to this rank: its number in the pair's order (0: not counted). */
  messageArrived(source: number, context: number): number {
    if (context === UNOBSERVED_CONTEXT) return 0;
    return ++this.arrivedFrom[source]!;
  }

  /**
   * A receive is being posted: the span of the call that posts it (0: none, or nothing stored). The
   * engine keeps it with the posted receive and gives it back to messageDelivered.
   */
  postingSpan(): number {
    return this.storeEvents ? this.current : 0;
  }

  /** Message `flow` (messageArrived's number) from `source` meets a receive posted by span `postedBy` (postingSpan). */
  messageDelivered(postedBy: number, source: number, bytes: number, context: number, tag: number, flow: number): void {
    if (flow === 0 || !this.storeEvents) return;
    // A receive posted outside any call (0) belongs to the call running when its message arrives.
    const owner = postedBy !== 0 ? postedBy : this.current;
    this.message(EventKind.Deliver, performance.now(), owner, owner === 0 ? 0 : this.callOf(owner), source, bytes, flow, context, tag);
  }

  // ---------------------------------------------------------------------------------------------
  // Calls

  /** The number a string (a communicator's name) has in this recording. */
  intern(text: string): number {
    let id = this.stringIds.get(text);
    if (id === undefined) {
      id = this.strings.length;
      this.strings.push(text);
      this.stringIds.set(text, id);
    }
    return id;
  }

  /**
   * A call begins: returns its span (0 when not stored). `peer` is a rank of the communicator (or
   * ANY_SOURCE, PROC_NULL, -1 for none), `context` the communicator's context (its collective context
   * for collectives), `tag` the call's tag (a collective's call tag), `comm` the name's intern number.
   */
  beginSpan(call: number, t0: number, peer: number, tag: number, context: number, root: number, comm: number): number {
    if (this.openCalls++ === 0) this.busySince = t0;
    if (!this.storeEvents) return 0;
    const slot = this.slot();
    if (slot < 0) return 0;
    const c = (slot / EVENT_CHUNK) | 0, o = slot - c * EVENT_CHUNK;
    const f64 = this.events.f64[c]!, i32 = this.events.i32[c]!;
    const fo = o * F64_PER_EVENT, io = o * I32_PER_EVENT;
    f64[fo] = t0;
    f64[fo + 1] = NaN;
    f64[fo + 2] = 0;
    i32[io] = EventKind.Span;
    i32[io + 1] = call;
    i32[io + 2] = slot + 1;
    i32[io + 3] = peer;
    i32[io + 4] = tag;
    i32[io + 5] = context;
    i32[io + 6] = root;
    i32[io + 7] = comm;
    return slot + 1;
  }

  /** The call of span `span` (begun at `t0`) has completed (failed: with an error); `site` if sampled. */
  endSpan(span: number, call: number, t0: number, failed: boolean, site?: string): void {
    const t1 = performance.now();
    if (--this.openCalls === 0) this.busy += t1 - this.busySince;
    const ms = t1 - t0;
    (this.calls[call] ??= new CallTotals()).add(ms);
    if (site !== undefined) {
      const key = `${call} ${site}`;
      let entry = this.sites.get(key);
      if (!entry) this.sites.set(key, (entry = { call, site, totals: new CallTotals() }));
      entry.totals.add(ms);
    }
    if (span === 0) return;
    const slot = span - 1, c = (slot / EVENT_CHUNK) | 0, o = slot - c * EVENT_CHUNK;
    this.events.f64[c]![o * F64_PER_EVENT + 1] = t1;
    if (failed) this.events.i32[c]![o * I32_PER_EVENT] = EventKind.Span | (SpanFlag.Failed << 8);
  }

  /** Time during which at least one call was in progress, up to `now`. */
  busyTime(now: number): number {
    return this.busy + (this.openCalls > 0 ? now - this.busySince : 0);
  }

  /** Recording ends (finalize): spans still open end here, marked unfinished. */
  stop(now: number = performance.now()): void {
    if (!Number.isNaN(this.end)) return;
    this.end = now;
    const { f64, i32, count } = this.events;
    for (let slot = 0; slot < count; slot++) {
      const c = Math.floor(slot / EVENT_CHUNK), o = slot % EVENT_CHUNK;
      if ((i32[c]![o * I32_PER_EVENT]! & 0xff) === EventKind.Span && Number.isNaN(f64[c]![o * F64_PER_EVENT + 1]!)) {
        f64[c]![o * F64_PER_EVENT + 1] = now;
        i32[c]![o * I32_PER_EVENT] = EventKind.Span | (SpanFlag.Unfinished << 8);
      }
    }
  }

  // ---------------------------------------------------------------------------------------------

  /** The call a stored span belongs to (0 if it was not stored). */
  private callOf(span: number): number {
    const slot = span - 1, c = (slot / EVENT_CHUNK) | 0;
    return this.events.i32[c]![(slot - c * EVENT_CHUNK) * I32_PER_EVENT + 1]!;
  }

  private message(kind: number, time: number, owner: number, call: number, peer: number, bytes: number, index: number, context: number, tag: number): void {
    const slot = this.slot();
    if (slot < 0) return;
    const c = (slot / EVENT_CHUNK) | 0, o = slot - c * EVENT_CHUNK;
    const f64 = this.events.f64[c]!, i32 = this.events.i32[c]!;
    const fo = o * F64_PER_EVENT, io = o * I32_PER_EVENT;
    f64[fo] = time;
    f64[fo + 1] = index;
    f64[fo + 2] = bytes;
    i32[io] = kind;
    i32[io + 1] = call;
    i32[io + 2] = owner;
    i32[io + 3] = peer;
    i32[io + 4] = tag;
    i32[io + 5] = context;
    i32[io + 6] = 0;
    i32[io + 7] = 0;
  }

  /** The next free event slot, or -1 once the cap is reached (the event is counted as dropped). */
  private slot(): number {
    if (!Number.isNaN(this.end)) return -1;
    const events = this.events;
    if (events.count >= this.settings.eventCap) {
      if (this.dropped++ === 0) this.firstDropAt = performance.now();
      return -1;
    }
    if (events.count === events.f64.length * EVENT_CHUNK) this.addChunk();
    return events.count++;
  }

  /** One more chunk, its pages written once so that they are mapped now rather than by the calls that fill it. */
  private addChunk(): void {
    const f64 = new Float64Array(EVENT_CHUNK * F64_PER_EVENT), i32 = new Int32Array(EVENT_CHUNK * I32_PER_EVENT);
    for (let k = 0; k < f64.length; k += PAGE_BYTES / 8) f64[k] = 0;
    for (let k = 0; k < i32.length; k += PAGE_BYTES / 4) i32[k] = 0;
    this.events.f64.push(f64);
    this.events.i32.push(i32);
  }
}
