// The point-to-point engine of one rank: sends and receives between world ranks, on any context.
//
// Protocols (chosen per message by its encoded size):
//  - eager (size <= eagerLimit, 2 MiB by default): header and payload go out at once. Up to
//    EAGER_COPY_MAX_BYTES they are copied into one frame and the send completes when the frame reached
//    the kernel; larger eager payloads are written in place (header + payload views, writev) and the
//    send completes when the socket took them. The receiver matches an eager message at its header, so
//    the payload lands straight in the posted receive buffer (typed) or in memory of its exact size
//    (objects); with no receive posted, in memory of its own, kept in the unexpected queue.
//  - rendezvous (larger): the sender announces the message (RTS) and waits; when a receive matches,
//    the receiver answers CTS and the payload follows as DATA straight into the posted buffer (typed)
//    or into one buffer of exactly the message's size (objects). Large data is never staged twice.
//  - large payloads are read by the socket directly into their destination (transport/connection.ts),
//    so the kernel's copy is the only one; only the first read, which also holds the header, is staged.
//  The eager limit and the copy threshold were chosen with bench/ (see bench/README.md and config.ts).
//  - synchronous sends (ssend) complete when the receiver matched: an eager ssend waits for SYNC_ACK,
//    a rendezvous one completes after CTS anyway.
//  - flow control: eager bytes a receiver has not yet consumed are bounded per sender by a credit
//    window; the receiver returns credit (CREDIT frames) as receives consume them. With the window
//    spent, a sender announces further messages by RTS instead, so an unposted receiver holds only
//    small envelopes and senders are held back until their messages match — nothing is refused,
//    nothing overtakes, and no socket is paused (pausing could block the CTS a receiver waits for).
// Messages to oneself take the same matching path without a socket.
// Ranks here are world ranks; communicators translate (see comm/).
import type { MessagePort } from 'node:worker_threads';
import type { Recorder } from '../observe/recorder.js';
import { ANY_SOURCE, ANY_TAG, PROC_NULL } from '../constants.js';
import { markRelayed, tsmpiError, TsmpiError, type TsmpiErrorCode, ERROR_CODES } from '../errors.js';
import { ContextQueues, matches, OrderedQueue, type Envelope, type Pattern } from '../match/queues.js';
import type { Channel, ChannelSink, WriteDone } from '../transport/channel.js';
import { SelfChannel } from '../transport/self-channel.js';
import { Arena, type ArenaInit } from '../transport/shm-arena.js';
import { ShmTransport, type ShmChannel } from '../transport/shm-channel.js';
import { SocketChannel } from '../transport/socket-channel.js';
import { Transport, type ListenSpec } from '../transport/transport.js';
import { DTYPE_CONSTRUCTORS, DTYPE_OBJECT, bytesOf, dtypeName, type TypedArray } from '../wire/dtype.js';
import { describeCall, type CallLabel } from '../wire/call-label.js';
import { FLAG_COPIED, FLAG_SHARED, FLAG_SYNC, FrameKind, HEADER_BYTES, writeHeaderFields, type FrameHeader } from '../wire/header.js';
import { decodeObject, encodeObject } from './codec.js';
import { failRequest, isAwaited, keepAlive, Request, setProgress, settleRequest, whenSettled } from './request.js';
import { Status } from './status.js';

export interface EngineOptions {
  rank: number;
  size: number;
  secret: Uint8Array;
  /** Settles once `secret` holds the job's secret, when it is filled in after the engine starts (PMI jobs). */
  secretReady?: Promise<void>;
  /** Messages up to this many encoded bytes are sent eagerly. */
  eagerLimit: number;
  /** Largest message a peer may announce. */
  maxMessageBytes: number;
  /**
   * A rank thread: the memory it shares with the other rank threads of its process, whether to spin, and
   * its port to the host's main thread (for ports of its own to peers, to hand them shared buffers).
   */
  shm?: { arena: ArenaInit; spin: boolean; hostPort?: MessagePort };
  /** What --profile, --trace or --comm-matrix record of this rank (runtime/observe/), if any. */
  recorder?: Recorder;
}

/** How a posted receive wants its message. */
const enum Want { Typed, Object, Encoded }
/** Not a receive: a probe (for messages about what waits). */
const PROBE = -1;

/** Maps a world rank to the rank in the communicator of the call; null when they are the same. */
export type RankMap = Int32Array | null;

interface PostedRecv extends Pattern {
  readonly want: Want;
  readonly buf: TypedArray | undefined;
  readonly dtype: number;
  readonly req: Request<any>;
  readonly ranks: RankMap;
  readonly since: number;
  readonly context: number;
  /** The collective call that posted it (its messages must carry the same label), or NO_CALL. */
  readonly call: CallLabel;
  /** The recorded span of the call that posted it (observe/recorder.ts), 0 when none. */
  readonly span: number;
}

interface Arrival extends Envelope {
  readonly kind: number; // EAGER, RTS or COLL_ERROR
  readonly dtype: number;
  readonly length: number;
  /** Eager payload: owned by this rank, except while `deliver` runs for a receive matched at the header. */
  payload: Uint8Array | undefined;
  readonly seq: number;
  readonly sync: boolean;
  /** The collective call the sender made (header aux, aux2); zeros for point-to-point. */
  readonly op: number;
  readonly rootPlusOne: number;
  /** Its number among the messages from its source (observe/recorder.ts), 0 when nothing records. */
  readonly flow: number;
}

interface PendingRendezvous {
  readonly since: number;
  readonly peer: number;
  readonly parts: readonly Uint8Array[];
  readonly length: number;
  readonly req: Request<void>;
  readonly header: FrameHeader;
}

interface SyncSend {
  readonly req: Request<void>;
  readonly context: number;
  readonly peer: number;
  readonly tag: number;
  readonly since: number;
}

interface ExpectedData {
  readonly dest: Uint8Array;
  readonly finish: () => void;
  readonly req: Request<any>;
  readonly context: number;
  readonly tag: number;
}

/** A frame waiting for its channel (a connection still being made), and its completion callback. */
interface QueuedWrite { head: Uint8Array; payload: readonly Uint8Array[]; done: WriteDone | undefined }

/** Unconsumed eager bytes one sender may have outstanding at one receiver. */
export const EAGER_CREDIT_WINDOW = 64 * 1024 * 1024;
/** Credit is returned in batches of at least this much (a quarter of the window). */
const CREDIT_BATCH = EAGER_CREDIT_WINDOW / 4;
/** What an eager message costs in credit: its payload, and at least the bookkeeping of one message. */
function creditCost(length: number): number {
  return Math.max(length, 256);
}

class PeerLink {
  /** The channel frames to the peer go out on (with several, the first one made). */
  channel: Channel | undefined;
  /** Messages up to this many bytes go eagerly (the engine's limit; unlimited to oneself). */
  eagerLimit: number;
  /** Eager bytes this rank may still send to the peer before it must use rendezvous. */
  credit = EAGER_CREDIT_WINDOW;
  /** Consumed eager bytes from the peer not yet returned to it as credit. */
  creditOwed = 0;
  connecting = false;
  queued: QueuedWrite[] = [];
  openChannels = 0;
  lost: TsmpiError | undefined;
  /** The peer's program is done and everything it sent before that has arrived: no new message will come. */
  finished = false;
  /** Called once a connection being made is up (queued frames written) or has failed. */
  settled: (() => void)[] = [];
  readonly expectedData = new Map<number, ExpectedData>();
  constructor(readonly peer: number, eagerLimit: number) {
    this.eagerLimit = eagerLimit;
  }
}

/** The label of point-to-point messages (no collective call). */
const NO_CALL: CallLabel = { op: 0, rootPlusOne: 0 };

/** A communicator context as hang reports and error messages name it. */
interface ContextInfo {
  /** The communicator's name (COMM_WORLD, COMM_WORLD.dup, …). */
  readonly comm: string;
  /** For hang reports: the name, marked "(collective)" for a hidden collective context. */
  readonly display: string;
  /** World rank of each member, in communicator rank order. */
  readonly members: Int32Array;
  readonly memberSet: ReadonlySet<number>;
  /** The tag of the communicator's first collective call (collective #1). */
  readonly firstCollTag: number;
}

const REJECT_CTS = 1;

function headerOf(kind: number, dtype: number, context: number, tag: number, seq: number, length: number, flags = 0): FrameHeader {
  return { kind, dtype, flags, context, tag, seq, length, aux: 0, aux2: 0 };
}

function totalLength(parts: readonly Uint8Array[]): number {
  let n = 0;
  for (const p of parts) n += p.length;
  return n;
}

/** Memory this rank owns for a payload, 8-aligned (pool slices are 8-aligned too), for typed views. */
function ownedBuffer(length: number): Uint8Array {
  return length <= 4096 ? Buffer.allocUnsafe(length) : Buffer.allocUnsafeSlow(length);
}

/** A copy of a transient view in memory this rank owns. */
function ownedCopy(view: Uint8Array): Uint8Array {
  const copy = ownedBuffer(view.length);
  copy.set(view);
  return copy;
}


export interface PendingOperation {
  op: string;
  context: number;
  peer: number;
  tag: number;
  seconds: number;
  /** The program waits for it (as opposed to a request posted and not yet waited for). */
  awaited: boolean;
  /** A collective call (op is its name, peer its root or -1, tag its call's tag). */
  collective: boolean;
}

export interface PendingSummary {
  ops: PendingOperation[];
  total: number;
  anyAwaited: boolean;
}

/** A collective call in progress, registered by the communicator for hang reports. */
export interface ActiveCollective {
  op: string;
  context: number;
  root: number;
  tag: number;
  since: number;
}

export class Engine {
  readonly rank: number;
  readonly size: number;
  /** Messages (eager or rendezvous announcements) this rank has sent, for tests of algorithm costs. */
  messagesSent = 0;
  /** Frames written to and read from peers: equal sums over all ranks mean nothing is in flight. */
  framesOut = 0;
  framesIn = 0;
  bytesIn = 0;
  /** Collectives in progress on this rank (hang reports name them rather than their internal messages). */
  readonly activeCollectives = new OrderedQueue<ActiveCollective>();
  private readonly eagerLimit: number;
  private readonly limits: { maxEagerBytes: number; maxMessageBytes: number };
  private readonly contexts = new Map<number, ContextQueuesWithProbes>();
  private readonly links: (PeerLink | undefined)[];
  private addresses: readonly string[] = [];
  private readonly transport: Transport | undefined;
  /** Channels to the other rank threads of this process (threads mode). */
  private readonly shm: ShmTransport | undefined;
  private nextSeq = 1;
  private readonly rendezvousSends = new Map<number, PendingRendezvous>();
  /** Rendezvous sends whose data the receiver copies out of our shared region: complete at DATA_ACK. */
  private readonly awaitingAck = new Map<number, PendingRendezvous>();
  private readonly syncSends = new Map<number, SyncSend>();
  private closed = false;
  /** Collective calls known to have failed (see failCall), by context and tag. */
  private readonly failedCalls = new Map<string, TsmpiError>();
  /** Open contexts: their communicator's name and members (error markers from anyone else are stale). */
  private readonly contextInfo = new Map<number, ContextInfo>();
  /** Contexts freed here and not reused since. */
  private readonly retiredContexts = new Set<number>();
  /** Peers whose program is done (PeerLink.finished). */
  private finishedCount = 0;
  /** This rank's program is done: it waits in its finalize fence (finish()). */
  finishing = false;
  /** Every frame header is written here and read by the channel before its write returns. */
  private readonly head = new Uint8Array(HEADER_BYTES);
  /**
   * Records this rank's communication for --profile, --trace, --comm-matrix; undefined when off. Hooks
   * (each one `?.` call): messageSent where a message is announced (send entry points), messageArrived
   * where an announcement is taken (onHeader, onFrame, sendToSelf), postingSpan in post(), and
   * messageDelivered in deliver().
   */
  readonly recorder: Recorder | undefined;

  constructor(opts: EngineOptions) {
    this.rank = opts.rank;
    this.size = opts.size;
    this.eagerLimit = opts.eagerLimit;
    this.recorder = opts.recorder;
    this.limits = { maxEagerBytes: Math.max(opts.eagerLimit, 1 << 16) + 1024, maxMessageBytes: opts.maxMessageBytes };
    this.links = new Array(opts.size);
    // To itself a rank sends every message eagerly, copied (self-channel.ts), with no credit to count.
    const self = this.link(opts.rank);
    self.eagerLimit = Infinity;
    self.credit = Infinity;
    this.adopt(self, (sink) => new SelfChannel(sink));
    if (opts.shm) {
      this.shm = new ShmTransport(new Arena(opts.shm.arena, opts.rank), {
        spin: opts.shm.spin, hostPort: opts.shm.hostPort, limits: this.limits, onInbound: (channel) => this.adoptShm(channel),
      });
      setProgress(this.shm);
    }
    if (opts.size > 1) {
      this.transport = new Transport(opts.rank, opts.size, opts.secret, {
        onConnection: (peer, conn) => {
          if (this.closed) conn.socket.destroy();
          else this.adopt(this.link(peer), (sink) => new SocketChannel(conn, peer, sink, this.limits));
        },
        onConnectFailed: (peer, error) => this.linkLost(this.link(peer),
          tsmpiError('TSMPI_ERR_PEER_LOST', `cannot connect to rank ${peer}: ${error.message}`, error)),
      }, opts.secretReady);
    }
  }

  /** Whether `peer` is a rank thread of this process (reached through shared memory, no listener needed). */
  sharesMemoryWith(peer: number): boolean {
    return this.shm?.reaches(peer) ?? false;
  }

  listen(spec: ListenSpec): Promise<string> {
    if (!this.transport) throw tsmpiError('TSMPI_ERR_INTERN', 'a job of one rank has no listener');
    return this.transport.listen(spec);
  }

  setPeerAddresses(addresses: readonly string[]): void {
    this.addresses = addresses;
  }

  // ---------------------------------------------------------------------------------------------
  // Sending

  /** Typed send of `buf` (a view; never copied for rendezvous). `call`: the collective call it belongs to. */
  sendTyped(buf: TypedArray, dest: number, tag: number, context: number, dtype: number, sync: boolean, call: CallLabel = NO_CALL): Request<void> {
    const bytes = bytesOf(buf);
    return this.sendParts([bytes], bytes.length, dest, tag, context, dtype, sync, call);
  }

  sendObject(value: unknown, dest: number, tag: number, context: number, sync: boolean): Request<void> {
    const { parts, byteLength } = encodeObject(value);
    return this.sendParts(parts, byteLength, dest, tag, context, DTYPE_OBJECT, sync, NO_CALL);
  }

  sendEncoded(parts: readonly Uint8Array[], dest: number, tag: number, context: number, call: CallLabel = NO_CALL): Request<void> {
    return this.sendParts(parts, totalLength(parts), dest, tag, context, DTYPE_OBJECT, false, call);
  }

  /** An error marker: the matching receive at `dest` fails with this code and message. */
  sendError(code: TsmpiErrorCode, message: string, dest: number, tag: number, context: number): Request<void> {
    const payload = Buffer.from(JSON.stringify({ code, message }));
    writeHeaderFields(this.head, 0, FrameKind.COLL_ERROR, 0, 0, context, tag, 0, payload.length, 0, 0);
    this.messagesSent++;
    this.writeFrame(this.link(dest), [payload], undefined);
    return Request.completed<void>(undefined);
  }

  /**
   * Every message leaves here. Eager when it fits the link's limit and credit: the send completes
   * once the channel has its bytes (at once for a small frame to a connected peer; an ssend at
   * SYNC_ACK, which comes later). The receiver matches it at its header, so the payload lands
   * straight in the posted receive buffer or in memory of its own (bounded by the credit window).
   * Otherwise by rendezvous: RTS now, the payload once the receiver's CTS says where it goes.
   */
  private sendParts(
    parts: readonly Uint8Array[], length: number, dest: number, tag: number, context: number, dtype: number, sync: boolean, call: CallLabel,
  ): Request<void> {
    if (dest === PROC_NULL) return Request.completed<void>(undefined);
    this.messagesSent++;
    const link = this.link(dest);
    if (link.lost) return failed(link.lost);
    const cost = creditCost(length);
    const eager = length <= link.eagerLimit && link.credit >= cost && !link.finished
      && !(length >= SHARED_BYPASSES_EAGER_BYTES && copiedOnceByRendezvous(link, parts, length));
    // A send that needs the receiver (rendezvous, or an ssend) to a rank that has finished can never complete.
    if (!eager && link.finished) return failed(this.finishedPeerError(sync ? 'ssend' : 'send', dest, tag, context));
    // Nor can one of a collective call that some rank has already failed (failCall): no receive will take it.
    if (!eager && this.failedCalls.size > 0) {
      const callFailed = this.failedCalls.get(callKey(context, tag));
      if (callFailed) return failed(callFailed);
    }
    this.recorder?.messageSent(dest, length, context, tag);
    if (eager) {
      link.credit -= cost;
      const seq = sync ? this.nextSeq++ : 0;
      writeHeaderFields(this.head, 0, FrameKind.EAGER, dtype, sync ? FLAG_SYNC : 0, context, tag, seq, length, call.op, call.rootPlusOne);
      if (!sync) return this.writeMessage(link, parts);
      const req = new Request<void>();
      this.syncSends.set(seq, { req, context, peer: dest, tag, since: Date.now() });
      this.writeFrame(link, parts, (err) => { if (err) req[failRequest](peerGone(dest, err)); });
      return req;
    }
    const seq = this.nextSeq++;
    const req = new Request<void>();
    const header = headerOf(FrameKind.RTS, dtype, context, tag, seq, length, sync ? FLAG_SYNC : 0);
    header.aux = call.op;
    header.aux2 = call.rootPlusOne;
    this.rendezvousSends.set(seq, { peer: dest, parts, length, req, header, since: Date.now() });
    this.writeHeader(link, header);
    return req;
  }

  // ---------------------------------------------------------------------------------------------
  // Receiving

  recvTyped(buf: TypedArray, source: number, tag: number, context: number, dtype: number, ranks: RankMap, call: CallLabel = NO_CALL): Request<Status> {
    return this.post(Want.Typed, buf, dtype, source, tag, context, ranks, call) as Request<Status>;
  }

  /** Resolves with [value, status]. */
  recvObject(source: number, tag: number, context: number, ranks: RankMap): Request<[unknown, Status]> {
    return this.post(Want.Object, undefined, DTYPE_OBJECT, source, tag, context, ranks, NO_CALL) as Request<[unknown, Status]>;
  }

  /** Resolves with the encoded bytes of an object message. */
  recvEncoded(source: number, tag: number, context: number, ranks: RankMap = null, call: CallLabel = NO_CALL): Request<Uint8Array> {
    return this.post(Want.Encoded, undefined, DTYPE_OBJECT, source, tag, context, ranks, call) as Request<Uint8Array>;
  }

  private post(
    want: Want, buf: TypedArray | undefined, dtype: number, source: number, tag: number, context: number, ranks: RankMap, call: CallLabel,
  ): Request<unknown> {
    const queues = this.queues(context);
    const arrival = queues.unexpected.length > 0 ? queues.takeUnexpected({ source, tag }) : undefined;
    let posted: PostedRecv;
    const req = new Request<unknown>(() => {
      if (!queues.posted.remove(posted)) return false;
      const status = new Status();
      status.cancelled = true;
      req[settleRequest](want === Want.Object ? [undefined, status] : want === Want.Typed ? status : undefined);
      return true;
    });
    posted = { source, tag, want, buf, dtype, req, ranks, since: Date.now(), context, call, span: this.recorder?.postingSpan() ?? 0 };
    const callFailed = this.failedCalls.size > 0 ? this.failedCalls.get(callKey(context, tag)) : undefined;
    if (callFailed) {
      req[failRequest](callFailed);
      return req;
    }
    if (arrival) {
      this.deliver(posted, arrival, context, false);
      return req;
    }
    if (source !== ANY_SOURCE && source !== this.rank) {
      const link = this.links[source];
      if (link?.lost) {
        req[failRequest](link.lost);
        return req;
      }
      if (link?.finished) {
        req[failRequest](this.waitsForFinished(posted, source));
        return req;
      }
    } else if (source === ANY_SOURCE && this.finishedCount > 0 && this.othersAllFinished(context)) {
      req[failRequest](this.waitsForFinished(posted, source));
      return req;
    }
    queues.posted.push(posted);
    return req;
  }

  /**
   * A collective call failed on some rank, which told every rank (coll/relay.ts): every receive and
   * rendezvous send of that call (context and tag), whichever peer it waits for, fails with the error,
   * now and when posted later (post, sendParts). Collective tags are never reused while a call could still be running.
   */
  private failCall(context: number, tag: number, error: TsmpiError): void {
    const key = callKey(context, tag);
    if (this.failedCalls.has(key)) return;
    if (this.failedCalls.size >= MAX_FAILED_CALLS) this.failedCalls.delete(this.failedCalls.keys().next().value!);
    this.failedCalls.set(key, error);
    const queues = this.queues(context);
    for (const posted of queues.posted.drain((p) => p.tag === tag)) posted.req[failRequest](error);
    if (queues.probes) {
      queues.probes = queues.probes.filter((w) => {
        if (w.tag !== tag) return true;
        w.req[settleRequest](undefined);
        w.reject(error);
        return false;
      });
    }
    // Rendezvous halves already under way stay registered so the wire stays consistent: a CTS that
    // still comes is answered with the DATA, and DATA that still comes is read; only the requests fail.
    for (const sends of [this.rendezvousSends, this.awaitingAck]) {
      for (const send of sends.values()) {
        if (send.header.context === context && send.header.tag === tag) send.req[failRequest](error);
      }
    }
    for (const link of this.links) {
      for (const expected of link?.expectedData.values() ?? []) {
        if (expected.context === context && expected.tag === tag) expected.req[failRequest](error);
      }
    }
    for (const [seq, sync] of this.syncSends) {
      if (sync.context === context && sync.tag === tag) {
        this.syncSends.delete(seq);
        sync.req[failRequest](error);
      }
    }
  }

  /** A status for the earliest matching unexpected message, without receiving it. */
  iprobe(source: number, tag: number, context: number, ranks: RankMap): Status | undefined {
    const arrival = this.queues(context).peekUnexpected({ source, tag });
    return arrival && this.statusOf(arrival, ranks);
  }

  /** Resolves once a matching message is in the unexpected queue. */
  probe(source: number, tag: number, context: number, ranks: RankMap): Promise<Status> {
    const now = this.iprobe(source, tag, context, ranks);
    if (now) return Promise.resolve(now);
    const queues = this.queues(context);
    if (source !== ANY_SOURCE && source !== this.rank) {
      const link = this.links[source];
      if (link?.lost) return Promise.reject(link.lost);
      if (link?.finished) return Promise.reject(this.waitsForFinished({ source, tag, context, call: NO_CALL, want: PROBE }, source));
    } else if (source === ANY_SOURCE && this.finishedCount > 0 && this.othersAllFinished(context)) {
      return Promise.reject(this.waitsForFinished({ source, tag, context, call: NO_CALL, want: PROBE }, source));
    }
    return new Promise<Status>((resolve, reject) => {
      const waiter: ProbeWaiter = { source, tag, ranks, resolve, reject, req: new Request<void>(), since: Date.now(), context };
      waiter.req[keepAlive]();
      queues.probes ??= [];
      queues.probes.push(waiter);
    });
  }

  private statusOf(arrival: Arrival, ranks: RankMap): Status {
    const s = new Status();
    s.source = ranks ? ranks[arrival.source]! : arrival.source;
    s.tag = arrival.tag;
    const ctor = DTYPE_CONSTRUCTORS[arrival.dtype];
    s.count = ctor ? arrival.length / ctor.BYTES_PER_ELEMENT : arrival.length;
    return s;
  }

  /** Hands an arrival to the matching posted receive, or queues it as unexpected. */
  private arrive(source: number, arrival: Arrival, context: number): void {
    if (arrival.kind === FrameKind.COLL_ERROR) {
      // A marker for a context freed here, or from a rank outside the communicator now using the id
      // (an earlier one had it), belongs to a call that is over. A context not opened yet is kept:
      // peers may finish creating a communicator, and fail in it, before this rank has it.
      const members = this.contextInfo.get(context)?.memberSet;
      const stale = this.retiredContexts.has(context) || (members !== undefined && !members.has(source));
      if (!stale) this.failCall(context, arrival.tag, decodeErrorMarker(arrival.payload!));
      return;
    }
    const queues = this.queues(context);
    const posted = queues.takePosted(arrival);
    if (posted) {
      this.deliver(posted, arrival, context, false);
      return;
    }
    this.queueUnexpected(queues, source, arrival);
  }

  /** Keeps an arrival no receive wanted yet, and wakes the probes it satisfies. */
  private queueUnexpected(queues: ContextQueuesWithProbes, source: number, arrival: Arrival): void {
    queues.unexpected.push(arrival);
    const probes = queues.probes;
    if (probes && probes.length > 0) {
      for (let i = 0; i < probes.length; i++) {
        const w = probes[i]!;
        if ((w.source === ANY_SOURCE || w.source === source) && (w.tag < 0 || w.tag === arrival.tag)) {
          probes.splice(i--, 1);
          w.req[settleRequest](undefined);
          w.resolve(this.statusOf(arrival, w.ranks));
        }
      }
    }
  }

  /** `inPlace`: an eager payload the parser already wrote into the posted buffer (or into owned memory). */
  private deliver(posted: PostedRecv, arrival: Arrival, context: number, inPlace: boolean): void {
    const { req } = posted;
    if (arrival.kind === FrameKind.COLL_ERROR) {
      req[failRequest](decodeErrorMarker(arrival.payload!));
      return;
    }
    this.recorder?.messageDelivered(posted.span, arrival.source, arrival.length, context, arrival.tag, arrival.flow);
    const status = this.statusOf(arrival, posted.ranks);
    // In place means onHeader already found that the message fits.
    const mismatch = inPlace ? undefined : this.checkFit(posted, arrival);
    if (arrival.kind === FrameKind.EAGER) {
      if (arrival.source !== this.rank) this.returnCredit(arrival.source, creditCost(arrival.length));
      if (arrival.sync) this.acknowledgeSync(arrival);
      if (mismatch) return req[failRequest](mismatch);
      const payload = arrival.payload!;
      switch (posted.want) {
        case Want.Typed:
          if (!inPlace) bytesOf(posted.buf!).set(payload);
          return req[settleRequest](status);
        case Want.Object:
          return this.settleDecoded(req, payload, status);
        case Want.Encoded:
          return req[settleRequest](payload);
      }
    }
    // Rendezvous: clear the sender to send, and say where the payload lands.
    const link = this.link(arrival.source);
    if (mismatch) {
      this.sendCts(link, arrival, context, REJECT_CTS);
      req[failRequest](mismatch);
      return;
    }
    let dest: Uint8Array;
    let shared = -1;
    try {
      const channel = link.channel;
      const sharedBuf = posted.want === Want.Typed ? bytesOf(posted.buf!) : undefined;
      if (channel?.share && arrival.length >= SHARED_MIN_BYTES && sharedBuf?.buffer instanceof SharedArrayBuffer) {
        // A peer thread of this process copies the message straight into the posted buffer, which is
        // in shared memory (allocShared). Not into shared memory of our own for an object: a fresh
        // SharedArrayBuffer per message cost ~10 ms per 16 MiB in page faults, 6x the ring's two copies.
        dest = sharedBuf.subarray(0, arrival.length);
        shared = channel.share({ buffer: sharedBuf.buffer, offset: dest.byteOffset, length: arrival.length });
      } else {
        dest = posted.want === Want.Typed
          ? bytesOf(posted.buf!).subarray(0, arrival.length)
          : ownedBuffer(arrival.length);
      }
    } catch (e) {
      this.sendCts(link, arrival, context, REJECT_CTS);
      req[failRequest](tsmpiError('TSMPI_ERR_COUNT', `cannot allocate ${arrival.length} bytes for a message from rank ${arrival.source}`, e));
      return;
    }
    const finish = posted.want === Want.Typed
      ? () => req[settleRequest](status)
      : posted.want === Want.Object
        ? () => this.settleDecoded(req, dest, status)
        : () => req[settleRequest](dest);
    if (arrival.length === 0) {
      this.sendCts(link, arrival, context, 0);
      finish();
      return;
    }
    link.expectedData.set(arrival.seq, { dest, finish, req, context, tag: arrival.tag });
    this.sendCts(link, arrival, context, 0, shared);
  }

  private settleDecoded(req: Request<any>, payload: Uint8Array, status: Status): void {
    let value: unknown;
    try {
      value = decodeObject(payload);
    } catch (e) {
      req[failRequest](e);
      return;
    }
    req[settleRequest]([value, status]);
  }

  private checkFit(posted: PostedRecv, arrival: Arrival): TsmpiError | undefined {
    const call = posted.call;
    if (call.op !== arrival.op || call.rootPlusOne !== arrival.rootPlusOne) return this.callMismatch(posted, arrival);
    if (posted.want !== Want.Typed) {
      if (arrival.dtype === DTYPE_OBJECT) return undefined;
    } else if (arrival.dtype === posted.dtype && arrival.length <= posted.buf!.byteLength) {
      return undefined;
    }
    const from = `message from rank ${posted.ranks ? posted.ranks[arrival.source] : arrival.source} (tag ${arrival.tag})`;
    if (posted.want !== Want.Typed) {
      if (arrival.dtype !== DTYPE_OBJECT) {
        return tsmpiError('TSMPI_ERR_TYPE', `${from} is a typed ${dtypeName(arrival.dtype)} message: receive it with Recv into a ${dtypeName(arrival.dtype)}`);
      }
      return undefined;
    }
    if (arrival.dtype !== posted.dtype) {
      return arrival.dtype === DTYPE_OBJECT
        ? tsmpiError('TSMPI_ERR_TYPE', `${from} is an object message: receive it with recv, not Recv`)
        : tsmpiError('TSMPI_ERR_TYPE', `${from} holds ${dtypeName(arrival.dtype)} elements but the receive buffer is a ${dtypeName(posted.dtype)}`);
    }
    if (arrival.length > posted.buf!.byteLength) {
      const per = posted.buf!.BYTES_PER_ELEMENT;
      return tsmpiError('TSMPI_ERR_TRUNCATE', `${from} has ${arrival.length / per} elements but the receive buffer holds ${posted.buf!.length}`);
    }
    return undefined;
  }

  /**
   * Two ranks called different collectives (or one with another root) as the same call on a
   * communicator: "rank 0 called bcast(root=0) where rank 1 called reduce(root=0): collective #7 on COMM_WORLD".
   */
  private callMismatch(posted: PostedRecv, arrival: Arrival): TsmpiError {
    const { context } = posted;
    const theirs = describeCall(arrival.op, arrival.rootPlusOne), mine = describeCall(posted.call.op, posted.call.rootPlusOne);
    const sender = this.commRank(context, arrival.source), me = this.commRank(context, this.rank);
    return tsmpiError('TSMPI_ERR_COLL_MISMATCH', `rank ${sender} called ${theirs} where rank ${me} called ${mine}: ${this.where(context, arrival.tag, posted.call)}`);
  }

  private returnCredit(peer: number, amount: number): void {
    const link = this.link(peer);
    // Credit to oneself is unlimited: nothing to return.
    if (link.credit === Infinity) return;
    link.creditOwed += amount;
    if (link.creditOwed < CREDIT_BATCH || link.lost) return;
    writeHeaderFields(this.head, 0, FrameKind.CREDIT, 0, 0, 0, 0, 0, 0, link.creditOwed, 0);
    link.creditOwed = 0;
    this.writeFrame(link, NO_PAYLOAD, undefined);
  }

  /** `shared`: the id of the shared destination handed to the peer (it copies into it), or -1. */
  private sendCts(link: PeerLink, arrival: Arrival, context: number, aux: number, shared = -1): void {
    writeHeaderFields(this.head, 0, FrameKind.CTS, arrival.dtype, shared >= 0 ? FLAG_SHARED : 0, context, arrival.tag, arrival.seq, 0, aux, shared >= 0 ? shared : 0);
    this.writeFrame(link, NO_PAYLOAD, undefined);
  }

  private acknowledgeSync(arrival: Arrival): void {
    writeHeaderFields(this.head, 0, FrameKind.SYNC_ACK, 0, 0, 0, 0, arrival.seq, 0, 0, 0);
    this.writeFrame(this.link(arrival.source), NO_PAYLOAD, undefined);
  }

  // ---------------------------------------------------------------------------------------------
  // Frames from a peer

  /**
   * A frame header from `link`'s peer. DATA lands in the buffer its CTS promised. An eager message is
   * matched here, at its header, so its payload can land straight in the posted receive buffer (typed)
   * or in memory of its exact size (objects) instead of being copied later; the match is kept in
   * `conn` until the payload is in. Frames of one connection are handled in order, so matching at the
   * header keeps MPI's ordering.
   */
  private onHeader(link: PeerLink, conn: ConnectionState, h: FrameHeader): Uint8Array | undefined {
    // DATA whose bytes travel through shared memory carries none itself.
    if (h.kind === FrameKind.DATA) return (h.flags & (FLAG_SHARED | FLAG_COPIED)) !== 0 ? NO_BYTES : link.expectedData.get(h.seq)?.dest;
    if (h.kind !== FrameKind.EAGER) return undefined;
    const arrival: Arrival = {
      kind: FrameKind.EAGER, source: link.peer, tag: h.tag, dtype: h.dtype, length: h.length,
      payload: undefined, seq: h.seq, sync: (h.flags & FLAG_SYNC) !== 0, op: h.aux, rootPlusOne: h.aux2,
      flow: this.recorder?.messageArrived(link.peer, h.context) ?? 0,
    };
    conn.arrival = arrival;
    const queues = this.queues(h.context);
    const posted = queues.posted.length > 0 ? takePostedFor(queues, arrival) : undefined;
    conn.matched = posted;
    if (!posted || h.length === 0 || this.checkFit(posted, arrival)) return undefined;
    conn.inPlace = true;
    if (posted.want !== Want.Typed) return ownedBuffer(h.length);
    const buf = posted.buf!;
    return new Uint8Array(buf.buffer, buf.byteOffset, h.length);
  }

  private onFrame(link: PeerLink, conn: ConnectionState, h: FrameHeader, payload: Uint8Array, owned: boolean): void {
    const peer = link.peer;
    this.framesIn++;
    switch (h.kind) {
      case FrameKind.EAGER: {
        const arrival = conn.arrival!;
        const posted = conn.matched;
        const inPlace = conn.inPlace;
        conn.arrival = undefined;
        conn.matched = undefined;
        conn.inPlace = false;
        if (posted) {
          arrival.payload = payload;
          this.deliver(posted, arrival, h.context, inPlace);
          arrival.payload = undefined;
        } else {
          // A receive posted while this payload streamed in saw no unexpected message and queued
          // itself: it is this message's, ahead of anything later on the connection.
          arrival.payload = owned ? payload : ownedCopy(payload);
          const queues = this.queues(h.context);
          const late = queues.posted.length > 0 ? takePostedFor(queues, arrival) : undefined;
          if (late) this.deliver(late, arrival, h.context, false);
          else this.queueUnexpected(queues, peer, arrival);
        }
        return;
      }
      case FrameKind.COLL_ERROR:
        this.arrive(peer, {
          kind: h.kind, source: peer, tag: h.tag, dtype: h.dtype, length: h.length,
          payload: ownedCopy(payload), seq: h.seq, sync: (h.flags & FLAG_SYNC) !== 0, op: 0, rootPlusOne: 0, flow: 0,
        }, h.context);
        return;
      case FrameKind.RTS:
        this.arrive(peer, {
          kind: h.kind, source: peer, tag: h.tag, dtype: h.dtype, length: h.length,
          payload: undefined, seq: h.seq, sync: (h.flags & FLAG_SYNC) !== 0, op: h.aux, rootPlusOne: h.aux2,
          flow: this.recorder?.messageArrived(peer, h.context) ?? 0,
        }, h.context);
        return;
      case FrameKind.CTS: {
        const pending = this.rendezvousSends.get(h.seq);
        if (!pending || pending.peer !== peer) throw tsmpiError('TSMPI_ERR_PROTOCOL', `rank ${peer} cleared an unknown send ${h.seq}`);
        this.rendezvousSends.delete(h.seq);
        if (h.aux === REJECT_CTS || pending.length === 0) {
          pending.req[settleRequest](undefined);
          return;
        }
        const ph = pending.header;
        if ((h.flags & FLAG_SHARED) !== 0) {
          // The receiver's destination is shared with us: one copy, straight into it.
          const region = link.channel!.take!(h.aux2);
          const into = new Uint8Array(region.buffer, region.offset, pending.length);
          let at = 0;
          for (const part of pending.parts) { into.set(part, at); at += part.length; }
          writeHeaderFields(this.head, 0, FrameKind.DATA, ph.dtype, FLAG_COPIED, ph.context, ph.tag, ph.seq, 0, 0, 0);
          this.writeFrame(link, NO_PAYLOAD, undefined);
          pending.req[settleRequest](undefined);
          return;
        }
        if (copiedOnceByRendezvous(link, pending.parts, pending.length)) {
          // Our data is in shared memory: the receiver copies it out, once, and says when (DATA_ACK).
          const only = pending.parts[0]!;
          const shared = link.channel!.share!({ buffer: only.buffer as SharedArrayBuffer, offset: only.byteOffset, length: only.length });
          if (shared >= 0) {
            this.awaitingAck.set(ph.seq, pending);
            writeHeaderFields(this.head, 0, FrameKind.DATA, ph.dtype, FLAG_SHARED, ph.context, ph.tag, ph.seq, 0, 0, shared);
            this.writeFrame(link, NO_PAYLOAD, undefined);
            return;
          }
        }
        writeHeaderFields(this.head, 0, FrameKind.DATA, ph.dtype, 0, ph.context, ph.tag, ph.seq, ph.length, 0, 0);
        const done: WriteDone = (err) => {
          if (err) pending.req[failRequest](peerGone(peer, err));
          else pending.req[settleRequest](undefined);
        };
        if (this.writeFrame(link, pending.parts, done)) done();
        return;
      }
      case FrameKind.DATA: {
        const expected = link.expectedData.get(h.seq)!;
        link.expectedData.delete(h.seq);
        if ((h.flags & FLAG_SHARED) !== 0) {
          const region = link.channel!.take!(h.aux2);
          expected.dest.set(new Uint8Array(region.buffer, region.offset, region.length));
          writeHeaderFields(this.head, 0, FrameKind.DATA_ACK, 0, 0, 0, 0, h.seq, 0, 0, 0);
          this.writeFrame(link, NO_PAYLOAD, undefined);
        }
        expected.finish();
        return;
      }
      case FrameKind.DATA_ACK: {
        const pending = this.awaitingAck.get(h.seq);
        this.awaitingAck.delete(h.seq);
        pending?.req[settleRequest](undefined);
        return;
      }
      case FrameKind.SYNC_ACK: {
        const pending = this.syncSends.get(h.seq);
        this.syncSends.delete(h.seq);
        pending?.req[settleRequest](undefined);
        return;
      }
      case FrameKind.CREDIT:
        link.credit += h.aux;
        if (link.credit > EAGER_CREDIT_WINDOW) throw tsmpiError('TSMPI_ERR_PROTOCOL', `rank ${peer} returned more credit than was lent`);
        return;
      case FrameKind.BYE:
        // FIN: the peer's program is done, and this connection carried everything it sent us.
        this.peerFinished(peer);
        return;
      default:
        throw tsmpiError('TSMPI_ERR_PROTOCOL', `unexpected frame kind ${h.kind} from rank ${peer}`);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Connections

  /**
   * Writes a message's frame (its header is in `this.head`). The send completes at once only if the
   * channel had every byte before returning; a frame still waiting in this process (a full socket, a
   * full ring, a connection still being made) completes when it is written, so a program that exits
   * right after an awaited send loses nothing.
   */
  private writeMessage(link: PeerLink, payload: readonly Uint8Array[]): Request<void> {
    let req: Request<void> | undefined;
    const handedOff = this.writeFrame(link, payload, (err) => {
      if (err) req![failRequest](peerGone(link.peer, err));
      else req![settleRequest](undefined);
    });
    if (handedOff) return Request.completed<void>(undefined);
    req = new Request<void>();
    return req;
  }

  /** A frame without payload (RTS, CTS, …) built from `h`. */
  private writeHeader(link: PeerLink, h: FrameHeader): void {
    writeHeaderFields(this.head, 0, h.kind, h.dtype, h.flags, h.context, h.tag, h.seq, h.length, h.aux, h.aux2);
    this.writeFrame(link, NO_PAYLOAD, undefined);
  }

  private link(peer: number): PeerLink {
    return (this.links[peer] ??= new PeerLink(peer, this.eagerLimit));
  }

  /**
   * Writes the frame whose header is in `this.head` to `link`'s channel (Channel.write: true when
   * handed off at once; otherwise `done` follows). Without a channel yet the frame waits for the
   * connection, which the first such frame starts.
   */
  private writeFrame(link: PeerLink, payload: readonly Uint8Array[], done: WriteDone | undefined): boolean {
    this.framesOut++;
    const channel = link.channel;
    if (channel) return channel.write(this.head, payload, done);
    if (link.lost) {
      const lost = link.lost;
      if (done) queueMicrotask(() => done(lost));
      return false;
    }
    if (this.shm?.reaches(link.peer)) {
      // A rank thread of this process: its channel is made at once, no connection to wait for.
      return this.adoptShm(this.shm.channel(link.peer)).write(this.head, payload, done);
    }
    link.queued.push({ head: this.head.slice(), payload, done });
    if (!link.connecting) {
      link.connecting = true;
      const address = this.addresses[link.peer];
      if (!address) {
        this.linkLost(link, tsmpiError('TSMPI_ERR_PEER_LOST', `no address known for rank ${link.peer}`));
        return false;
      }
      this.transport!.connect(link.peer, address);
    }
    return false;
  }

  private adoptShm(channel: ShmChannel): Channel {
    const link = this.link(channel.peer);
    if (link.channel === channel) return channel;
    return this.adopt(link, (sink) => {
      channel.attach(sink, this.limits);
      return channel;
    });
  }

  /**
   * A channel to `link`'s peer exists (made here, or by the peer): its frames go to the engine through
   * a sink of their own, and the first channel becomes the one frames to the peer go out on.
   */
  private adopt(link: PeerLink, make: (sink: ChannelSink) => Channel): Channel {
    const state: ConnectionState = { arrival: undefined, matched: undefined, inPlace: false };
    let channel: Channel | undefined;
    let closed = false;
    channel = make({
      onHeader: (h) => this.onHeader(link, state, h),
      onFrame: (h, payload, owned) => this.onFrame(link, state, h, payload, owned === true),
      onBytes: (n) => { this.bytesIn += n; },
      onClosed: (error) => {
        if (closed) return;
        closed = true;
        link.openChannels--;
        if (link.channel === channel) link.channel = undefined;
        const lost = error instanceof TsmpiError ? error
          : tsmpiError('TSMPI_ERR_PEER_LOST', `rank ${link.peer} closed its connection (it has exited or failed)`, error);
        if ((link.openChannels === 0 || error) && !this.closed) this.linkLost(link, lost);
        // A receive matched by an eager header whose payload never finished is in no queue linkLost sees.
        const matched = state.matched;
        state.matched = undefined;
        state.arrival = undefined;
        matched?.req[failRequest](link.lost ?? lost);
      },
    });
    link.openChannels++;
    if (!link.channel && !link.lost) {
      link.channel = channel;
      link.connecting = false;
      const queued = link.queued;
      link.queued = [];
      for (const q of queued) if (channel.write(q.head, q.payload, q.done)) q.done?.();
      settleLink(link);
    }
    return channel;
  }

  /** Fails everything that can no longer complete because `link`'s peer is gone. */
  linkLost(link: PeerLink, error: TsmpiError): void {
    if (link.lost) return;
    link.lost = error;
    link.connecting = false;
    const queued = link.queued;
    link.queued = [];
    settleLink(link);
    for (const q of queued) q.done?.(error);
    for (const sends of [this.rendezvousSends, this.awaitingAck]) {
      for (const [seq, send] of sends) {
        if (send.peer === link.peer) {
          sends.delete(seq);
          send.req[failRequest](error);
        }
      }
    }
    for (const expected of link.expectedData.values()) expected.req[failRequest](error);
    link.expectedData.clear();
    for (const queues of this.contexts.values()) {
      for (const posted of queues.posted.drain((p) => p.source === link.peer)) posted.req[failRequest](error);
      if (queues.probes) {
        queues.probes = queues.probes.filter((w) => {
          if (w.source !== link.peer) return true;
          w.req[settleRequest](undefined);
          w.reject(error);
          return false;
        });
      }
    }
  }

  /** The launcher reports that `peer` died: release everything waiting on it. */
  peerLost(peer: number, reason: string): void {
    this.linkLost(this.link(peer), tsmpiError('TSMPI_ERR_PEER_LOST', `rank ${peer} ${reason}`));
  }

  // ---------------------------------------------------------------------------------------------

  private queues(context: number): ContextQueuesWithProbes {
    let q = this.contexts.get(context);
    if (!q) {
      q = new ContextQueues<PostedRecv, Arrival>() as ContextQueuesWithProbes;
      this.contexts.set(context, q);
    }
    return q;
  }

  /**
   * A communicator starts using `context`: its name (for hang reports and errors), members (world
   * ranks) and, for a collective context, the tag of its first collective call.
   */
  openContext(context: number, comm: string, members: Int32Array, collective: boolean, firstCollTag = 0): void {
    this.contextInfo.set(context, {
      comm, display: collective ? `${comm} (collective)` : comm, members, memberSet: new Set(members), firstCollTag,
    });
    this.retiredContexts.delete(context);
  }

  /**
   * A communicator was freed: once every operation still pending on `context` has completed (MPI's
   * Comm_free: pending operations complete normally), forget everything of the context, so that a
   * communicator that later gets the same id starts clean (no stale failed calls, no leftover
   * messages). Returns a promise when something is still pending (it resolves once the context is
   * forgotten), nothing when it was forgotten at once.
   */
  retireContext(context: number): Promise<void> | undefined {
    const pending = this.pendingRequestsOn(context);
    // Nothing pending: at once, so a communicator created right after free() can have the id.
    if (pending.length === 0) return void this.forgetContext(context);
    return Promise.all(pending.map((r) => r[whenSettled]())).then(() => this.forgetContext(context));
  }

  private forgetContext(context: number): void {
    this.contextInfo.delete(context);
    this.retiredContexts.add(context);
    this.contexts.delete(context);
    const prefix = `${context}:`;
    for (const key of this.failedCalls.keys()) if (key.startsWith(prefix)) this.failedCalls.delete(key);
  }

  /** Every request that still waits for something on `context`. */
  private pendingRequestsOn(context: number): Request<any>[] {
    const out: Request<any>[] = [];
    const queues = this.contexts.get(context);
    if (queues) {
      for (const p of queues.posted) out.push(p.req);
      for (const w of queues.probes ?? []) out.push(w.req);
    }
    for (const sends of [this.rendezvousSends, this.awaitingAck]) for (const r of sends.values()) if (r.header.context === context) out.push(r.req);
    for (const w of this.syncSends.values()) if (w.context === context) out.push(w.req);
    for (const link of this.links) for (const e of link?.expectedData.values() ?? []) if (e.context === context) out.push(e.req);
    return out.filter((r) => !r.done);
  }

  contextName(context: number): string {
    return this.contextInfo.get(context)?.display ?? `context ${context}`;
  }

  /** The name of the communicator that uses `context`. */
  commName(context: number): string {
    return this.contextInfo.get(context)?.comm ?? `context ${context}`;
  }

  /** Which collective call of its communicator (1, 2, …) the call with `tag` on `context` is. */
  collectiveNumber(context: number, tag: number): number {
    return ((tag - (this.contextInfo.get(context)?.firstCollTag ?? 0)) & 0x7fffffff) + 1;
  }

  /**
   * tsmpirun saw another rank (`other`, a world rank) in the same collective call of this rank's
   * communicator with another call or root, and no message between the two to tell them (a broadcast
   * whose ranks disagree on the root waits along different trees): the call fails here as a mismatch
   * found by a message would, and this rank relays the error to the others.
   */
  callConflict(context: number, tag: number, other: number, otherCall: string, otherRoot: number): void {
    let mine: ActiveCollective | undefined;
    for (const c of this.activeCollectives) if (c.context === context && c.tag === tag) mine = c;
    if (!mine) return;
    const described = (name: string, root: number) => (root >= 0 ? `${name}(root=${root})` : name);
    const error = tsmpiError('TSMPI_ERR_COLL_MISMATCH', `rank ${this.commRank(context, other)} called ${described(otherCall, otherRoot)} `
      + `where rank ${this.commRank(context, this.rank)} called ${described(mine.op, mine.root)}: ${this.where(context, tag, { op: 1, rootPlusOne: 0 })}`);
    this.failCall(context, tag, error);
  }

  /** A world rank as the communicator of `context` numbers it (the world rank if the context is unknown). */
  private commRank(context: number, world: number): number {
    const members = this.contextInfo.get(context)?.members;
    if (!members) return world;
    const r = members.indexOf(world);
    return r < 0 ? world : r;
  }

  /** "collective #7 on COMM_WORLD" for a collective call's tag, or "COMM_WORLD" for point-to-point. */
  private where(context: number, tag: number, call: CallLabel): string {
    const info = this.contextInfo.get(context);
    const comm = info?.comm ?? `context ${context}`;
    if (call.op === 0) return comm;
    const number = ((tag - (info?.firstCollTag ?? 0)) & 0x7fffffff) + 1;
    return `collective #${number} on ${comm}`;
  }

  /** "recv(source=3, tag=5) on COMM_WORLD", or "bcast(root=0) (collective #7 on COMM_WORLD)". */
  private callIn(what: string, context: number, tag: number, call: CallLabel): string {
    return call.op === 0 ? `${what} on ${this.where(context, tag, call)}` : `${what} (${this.where(context, tag, call)})`;
  }

  // ---------------------------------------------------------------------------------------------
  // Finishing: the implicit or explicit finalize of API.md, and what peers learn from it

  /**
   * This rank's program is done. Every peer it is connected to gets a FIN frame behind everything sent
   * to it so far; a connection still being made is waited for first, so that no frame the program sent
   * is left unwritten. Resolves with the peers that got a FIN. The engine keeps serving afterwards
   * (CTS, DATA, credits for messages the program sent), until close().
   */
  async finish(): Promise<number[]> {
    this.finishing = true;
    const connecting = this.links.filter((l): l is PeerLink => l !== undefined && l.connecting && !l.channel && !l.lost);
    await Promise.all(connecting.map((l) => new Promise<void>((resolve) => l.settled.push(resolve))));
    const told: number[] = [];
    for (const link of this.links) {
      if (!link?.channel || link.lost || link.peer === this.rank) continue;
      writeHeaderFields(this.head, 0, FrameKind.BYE, 0, 0, 0, 0, 0, 0, 0, 0);
      this.writeFrame(link, NO_PAYLOAD, undefined);
      told.push(link.peer);
    }
    return told;
  }

  /**
   * `peer`'s program is done, and everything it sent before that has arrived (its FIN came, or the
   * launcher says it never connected to this rank): no new message will come from it. Whatever waits
   * for one — a receive or probe naming it (or ANY_SOURCE once every other member has finished), a send
   * that needs it to match — fails now, naming what waits and who finished, instead of hanging.
   */
  peerFinished(peer: number): void {
    if (peer === this.rank || peer < 0 || peer >= this.size) return;
    const link = this.link(peer);
    if (link.finished || link.lost) return;
    link.finished = true;
    this.finishedCount++;
    for (const [context, queues] of this.contexts) {
      const anyLeft = !this.othersAllFinished(context);
      const waitsForIt = (source: number) => source === peer || (source === ANY_SOURCE && !anyLeft);
      for (const posted of queues.posted.drain((p) => waitsForIt(p.source))) {
        posted.req[failRequest](this.waitsForFinished(posted, posted.source));
      }
      if (queues.probes) {
        queues.probes = queues.probes.filter((w) => {
          if (!waitsForIt(w.source)) return true;
          w.req[settleRequest](undefined);
          w.reject(this.waitsForFinished({ ...w, want: PROBE, call: NO_CALL }, w.source));
          return false;
        });
      }
    }
    for (const [seq, send] of this.rendezvousSends) {
      if (send.peer !== peer) continue;
      this.rendezvousSends.delete(seq);
      const h = send.header;
      send.req[failRequest](this.finishedPeerError((h.flags & FLAG_SYNC) !== 0 ? 'ssend' : 'send', peer, h.tag, h.context, { op: h.aux, rootPlusOne: h.aux2 }));
    }
    for (const [seq, sync] of this.syncSends) {
      if (sync.peer !== peer) continue;
      this.syncSends.delete(seq);
      sync.req[failRequest](this.finishedPeerError('ssend', peer, sync.tag, sync.context));
    }
  }

  /** Every member of `context` other than this rank has finished (false for an unknown context). */
  private othersAllFinished(context: number): boolean {
    const info = this.contextInfo.get(context);
    if (!info) return false;
    for (const m of info.members) if (m !== this.rank && !this.links[m]?.finished) return false;
    return true;
  }

  /** "rank 0 waits in recv(source=3, tag=5) on COMM_WORLD, but rank 3 has finished". */
  private waitsForFinished(posted: { source: number; tag: number; context: number; call: CallLabel; want: number }, source: number): TsmpiError {
    const { context, tag, call } = posted;
    const me = this.commRank(context, this.rank);
    const who = source === ANY_SOURCE ? 'every other rank of it has finished' : `rank ${this.commRank(context, source)} has finished`;
    let what: string;
    if (call.op !== 0) {
      what = describeCall(call.op, call.rootPlusOne);
    } else {
      const from = source === ANY_SOURCE ? 'ANY_SOURCE' : String(this.commRank(context, source));
      what = `${posted.want === PROBE ? 'probe' : 'recv'}(source=${from}, tag=${tag === ANY_TAG ? 'ANY_TAG' : tag})`;
    }
    return tsmpiError('TSMPI_ERR_PEER_FINISHED', `rank ${me} waits in ${this.callIn(what, context, tag, call)}, but ${who}`);
  }

  /** The error of a send that needs `dest` to match it, when `dest` has finished. */
  private finishedPeerError(op: 'send' | 'ssend', dest: number, tag: number, context: number, call: CallLabel = NO_CALL): TsmpiError {
    const me = this.commRank(context, this.rank), to = this.commRank(context, dest);
    const what = call.op !== 0 ? describeCall(call.op, call.rootPlusOne) : `${op}(dest=${to}, tag=${tag})`;
    return tsmpiError('TSMPI_ERR_PEER_FINISHED', `rank ${me} waits in ${this.callIn(what, context, tag, call)}, but rank ${to} has finished`);
  }

  /**
   * What this rank is waiting for, for hang reports: at most `limit` operations listed (in the order
   * they were posted, so the longest-waiting first), the total, and whether the program awaits any.
   * Collective traffic is summarised by its call. Cheap with a million pending sends: nothing but the
   * listed entries is allocated.
   */
  pendingOperations(limit: number): PendingSummary {
    const now = Date.now();
    const ops: PendingOperation[] = [];
    let total = 0, anyAwaited = false;
    const note = (op: string, context: number, peer: number, tag: number, since: number, awaited: boolean, collective = false) => {
      total++;
      anyAwaited ||= awaited;
      if (ops.length < limit) ops.push({ op, context, peer, tag, seconds: (now - since) / 1000, awaited, collective });
    };
    const collectiveContexts = new Set<number>();
    for (const c of this.activeCollectives) {
      collectiveContexts.add(c.context);
      note(c.op, c.context, c.root, c.tag, c.since, true, true);
    }
    for (const [context, q] of this.contexts) {
      if (collectiveContexts.has(context)) continue;
      for (const p of q.posted) note('recv', context, p.source, p.tag, p.since, p.req[isAwaited]);
      for (const w of q.probes ?? []) note('probe', context, w.source, w.tag, w.since, true);
    }
    for (const r of this.rendezvousSends.values()) {
      if (collectiveContexts.has(r.header.context) || r.req.done) continue;
      note('send', r.header.context, r.peer, r.header.tag, r.since, r.req[isAwaited]);
    }
    for (const w of this.syncSends.values()) {
      if (collectiveContexts.has(w.context)) continue;
      note('ssend', w.context, w.peer, w.tag, w.since, w.req[isAwaited]);
    }
    return { ops, total, anyAwaited };
  }

  close(): void {
    this.closed = true;
    this.transport?.close();
    this.shm?.close();
    if (this.shm) setProgress(undefined);
    for (const link of this.links) link?.channel?.close();
  }
}

interface ProbeWaiter {
  source: number;
  tag: number;
  ranks: RankMap;
  resolve: (s: Status) => void;
  reject: (e: unknown) => void;
  /** Holds the event loop open while the probe waits. */
  req: Request<void>;
  since: number;
  context: number;
}

type ContextQueuesWithProbes = ContextQueues<PostedRecv, Arrival> & { probes?: ProbeWaiter[] };

/** queues.takePosted without a closure per message (the frame path runs it for every eager frame). */
let matchingArrival: Arrival | undefined;
const acceptsMatchingArrival = (p: PostedRecv): boolean => matches(p, matchingArrival!);
function takePostedFor(queues: ContextQueuesWithProbes, arrival: Arrival): PostedRecv | undefined {
  matchingArrival = arrival;
  const posted = queues.posted.take(acceptsMatchingArrival);
  matchingArrival = undefined;
  return posted;
}

/** Per connection: the eager frame whose header matched (or not) while its payload arrives. */
interface ConnectionState {
  arrival: Arrival | undefined;
  matched: PostedRecv | undefined;
  /** The payload goes to memory deliver may keep (the posted buffer, or an owned buffer). */
  inPlace: boolean;
}

/** A connection being made is up or has failed: wake finish(), which waits for its queued frames. */
function settleLink(link: PeerLink): void {
  const waiting = link.settled;
  link.settled = [];
  for (const wake of waiting) wake();
}

/** The payload of frames that carry none. */
const NO_PAYLOAD: readonly Uint8Array[] = [];
const NO_BYTES = new Uint8Array(0);

/**
 * Rendezvous messages at least this large between rank threads of one process are copied once, through
 * a shared region (FLAG_SHARED), rather than twice through the ring, when one side's memory is shared.
 */
const SHARED_MIN_BYTES = 64 * 1024;

/**
 * A message sent from shared memory at least this large goes by rendezvous even under the eager limit,
 * to be copied once instead of twice through the ring. Smaller ones do better eager: the ring's two
 * copies overlap, and the handshake costs more than they save. Threads, 2 ranks, allocShared against
 * plain buffers, half round trip: 256 KiB 94-115 vs 70-97 µs, 1 MiB 194-218 vs 174-204 µs, 2 MiB
 * 322-339 vs 322-374 µs, 4 MiB 619-716 vs 682-760 µs.
 */
const SHARED_BYPASSES_EAGER_BYTES = 2 * 1024 * 1024;

/**
 * Whether a message of `parts` to `link` is one whose receiver can copy it once, straight from the
 * sender's shared memory (a rank thread of this process, the data in one SharedArrayBuffer part, at
 * least SHARED_MIN_BYTES).
 */
function copiedOnceByRendezvous(link: PeerLink, parts: readonly Uint8Array[], length: number): boolean {
  return length >= SHARED_MIN_BYTES && parts.length === 1 && parts[0]!.buffer instanceof SharedArrayBuffer && link.channel?.share !== undefined;
}

function peerGone(peer: number, err: Error): TsmpiError {
  return err instanceof TsmpiError ? err : tsmpiError('TSMPI_ERR_PEER_LOST', `rank ${peer} went away during a send: ${err.message}`, err);
}

function failed(error: TsmpiError): Request<void> {
  const r = new Request<void>();
  r[failRequest](error);
  return r;
}


/** Failed collective calls remembered at most (the oldest is forgotten first). */
const MAX_FAILED_CALLS = 4096;

function callKey(context: number, tag: number): string {
  return `${context}:${tag}`;
}

function decodeErrorMarker(payload: Uint8Array): TsmpiError {
  try {
    const { code, message } = JSON.parse(Buffer.from(payload).toString('utf8')) as { code: TsmpiErrorCode; message: string };
    if ((ERROR_CODES as readonly string[]).includes(code)) return markRelayed(tsmpiError(code, String(message).replace(/^TSMPI_ERR_\w+: /, '')));
  } catch {
    // fall through: a malformed marker is itself a protocol error
  }
  return tsmpiError('TSMPI_ERR_PROTOCOL', 'malformed error marker from a peer');
}
