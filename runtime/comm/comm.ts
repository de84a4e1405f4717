// Comm: a group of ranks with a context of their own (API.md). Every public method validates its
// arguments at the call, before anything is sent, and then hands the work to the engine (point-to-
// point, on the communicator's context) or to coll/ (collectives, on the hidden collective context
// next to it, so the two never match each other).
import { ANY_SOURCE, ANY_TAG, PROC_NULL, TAG_UB } from '../constants.js';
import { tsmpiError, type TsmpiErrorCode } from '../errors.js';
import type { CollChannel } from '../coll/channel.js';
import { decodeObject, encodeObject } from '../p2p/codec.js';
import type { Engine, RankMap } from '../p2p/engine.js';
import { failRequest, Request, settleRequest } from '../p2p/request.js';
import { Status } from '../p2p/status.js';
import { dtypeName, dtypeOf, type TypedArray } from '../wire/dtype.js';

/** Describes a value for an error message without printing it whole. */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean' ? `${typeof v} ${String(v)}` : typeof v;
}

/** Runs a validating function and turns its synchronous throw into a rejected promise. */
function rejecting<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return fn();
  } catch (e) {
    return Promise.reject(e);
  }
}

export interface CommInit {
  engine: Engine;
  /** Point-to-point context; the collective context is context + 1. */
  context: number;
  /** World rank of each member, in communicator rank order. */
  members: Int32Array;
  name: string;
  /** Ends the whole job with an exit code (through tsmpirun or the PMI launcher when there is one). */
  abortJob: (errorcode: number) => never;
}

export class Comm {
  readonly rank: number;
  readonly size: number;
  /** @internal */ protected readonly engine: Engine;
  /** @internal */ protected readonly context: number;
  /** @internal */ protected readonly members: Int32Array;
  readonly #ranks: RankMap;
  #collTag = 0;
  #freed = false;
  #name: string;
  /** @internal */ protected readonly channel: CollChannel;
  /** @internal */ protected readonly abortJob: (errorcode: number) => never;

  /** @internal Communicators are made by the runtime (COMM_WORLD, dup, split, createCart). */
  constructor(init: CommInit) {
    this.engine = init.engine;
    this.context = init.context;
    this.members = init.members;
    this.size = init.members.length;
    this.#name = init.name;
    this.abortJob = init.abortJob;
    const me = init.members.indexOf(init.engine.rank);
    this.rank = me;
    let identity = init.members.length === init.engine.size;
    for (let i = 0; identity && i < init.members.length; i++) identity = init.members[i] === i;
    if (identity) {
      this.#ranks = null;
    } else {
      const map = new Int32Array(init.engine.size).fill(-1);
      init.members.forEach((world, r) => { map[world] = r; });
      this.#ranks = map;
    }
    this.engine.nameContext(this.context, this.#name);
    this.engine.nameContext(this.context + 1, `${this.#name} (collective)`);
    this.channel = this.#makeChannel();
  }

  get name(): string {
    return this.#name;
  }

  // ---------------------------------------------------------------------------------------------
  // Validation: every public entry goes through these before anything is sent.

  /** @internal */
  protected checkUsable(): void {
    if (this.#freed) throw tsmpiError('TSMPI_ERR_COMM', `${this.#name} has been freed`);
  }

  /** A destination: a rank of this communicator or PROC_NULL, as a world rank (or PROC_NULL). */
  #dest(rank: unknown): number {
    this.checkUsable();
    if (rank === PROC_NULL) return PROC_NULL;
    if (typeof rank !== 'number' || !Number.isInteger(rank) || rank < 0 || rank >= this.size) {
      throw tsmpiError('TSMPI_ERR_RANK', `destination rank ${describeValue(rank)} is not an integer in [0, ${this.size - 1}] (nor PROC_NULL) on ${this.#name}`);
    }
    return this.members[rank]!;
  }

  /** A source: a rank, ANY_SOURCE or PROC_NULL, as a world rank. */
  #source(rank: unknown): number {
    this.checkUsable();
    if (rank === ANY_SOURCE || rank === PROC_NULL) return rank;
    if (typeof rank !== 'number' || !Number.isInteger(rank) || rank < 0 || rank >= this.size) {
      throw tsmpiError('TSMPI_ERR_RANK', `source rank ${describeValue(rank)} is not an integer in [0, ${this.size - 1}] (nor ANY_SOURCE, PROC_NULL) on ${this.#name}`);
    }
    return this.members[rank]!;
  }

  #sendTag(tag: unknown): number {
    if (typeof tag !== 'number' || !Number.isInteger(tag) || tag < 0 || tag > TAG_UB) {
      throw tsmpiError('TSMPI_ERR_TAG', `tag ${describeValue(tag)} is not an integer in [0, ${TAG_UB}]`);
    }
    return tag;
  }

  #recvTag(tag: unknown): number {
    return tag === ANY_TAG ? ANY_TAG : this.#sendTag(tag);
  }

  #typed(buf: unknown, call: string): number {
    const dtype = dtypeOf(buf);
    if (dtype <= 0) {
      throw tsmpiError('TSMPI_ERR_TYPE', `${call} needs a typed array (Float64Array, Int32Array, …; a subarray view is fine), got ${describeValue(buf)}; use ${call[0]!.toLowerCase()}${call.slice(1)} for other values`);
    }
    return dtype;
  }

  #procNullStatus(): Status {
    const s = new Status();
    s.source = PROC_NULL;
    s.tag = ANY_TAG;
    return s;
  }

  // ---------------------------------------------------------------------------------------------
  // Point-to-point, objects

  send(obj: unknown, dest: number, tag = 0): Promise<void> {
    return rejecting(() => this.isend(obj, dest, tag).wait());
  }

  ssend(obj: unknown, dest: number, tag = 0): Promise<void> {
    return rejecting(() => this.issend(obj, dest, tag).wait());
  }

  isend(obj: unknown, dest: number, tag = 0): Request<void> {
    const d = this.#dest(dest), t = this.#sendTag(tag);
    return this.engine.sendObject(obj, d, t, this.context, false);
  }

  issend(obj: unknown, dest: number, tag = 0): Request<void> {
    const d = this.#dest(dest), t = this.#sendTag(tag);
    return this.engine.sendObject(obj, d, t, this.context, true);
  }

  recv<T = unknown>(source: number = ANY_SOURCE, tag: number = ANY_TAG, status?: Status): Promise<T> {
    return rejecting(() => {
      const s = this.#source(source), t = this.#recvTag(tag);
      if (s === PROC_NULL) {
        status?.assign(this.#procNullStatus());
        return Promise.resolve(undefined as T);
      }
      return this.engine.recvObject(s, t, this.context, this.#ranks).wait().then(([value, st]) => {
        status?.assign(st);
        return value as T;
      });
    });
  }

  irecv<T = unknown>(source: number = ANY_SOURCE, tag: number = ANY_TAG): Request<T> {
    const s = this.#source(source), t = this.#recvTag(tag);
    if (s === PROC_NULL) return Request.completed(undefined as T);
    return new ObjectRecvRequest<T>(this.engine.recvObject(s, t, this.context, this.#ranks));
  }

  sendrecv<T = unknown>(
    obj: unknown, dest: number, sendtag = 0, source: number = ANY_SOURCE, recvtag: number = ANY_TAG, status?: Status,
  ): Promise<T> {
    return rejecting(() => {
      // Validate both halves before either starts.
      this.#dest(dest); this.#sendTag(sendtag); this.#source(source); this.#recvTag(recvtag);
      const received = this.recv<T>(source, recvtag, status);
      const sent = this.isend(obj, dest, sendtag).wait();
      return Promise.all([received, sent]).then(([value]) => value);
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Point-to-point, typed arrays

  Send(buf: TypedArray, dest: number, tag = 0): Promise<void> {
    return rejecting(() => this.Isend(buf, dest, tag).wait());
  }

  Ssend(buf: TypedArray, dest: number, tag = 0): Promise<void> {
    return rejecting(() => this.Issend(buf, dest, tag).wait());
  }

  Isend(buf: TypedArray, dest: number, tag = 0): Request<void> {
    const dtype = this.#typed(buf, 'Isend'), d = this.#dest(dest), t = this.#sendTag(tag);
    return this.engine.sendTyped(buf, d, t, this.context, dtype, false);
  }

  Issend(buf: TypedArray, dest: number, tag = 0): Request<void> {
    const dtype = this.#typed(buf, 'Issend'), d = this.#dest(dest), t = this.#sendTag(tag);
    return this.engine.sendTyped(buf, d, t, this.context, dtype, true);
  }

  Recv(buf: TypedArray, source: number = ANY_SOURCE, tag: number = ANY_TAG): Promise<Status> {
    return rejecting(() => this.Irecv(buf, source, tag).wait());
  }

  Irecv(buf: TypedArray, source: number = ANY_SOURCE, tag: number = ANY_TAG): Request<Status> {
    const dtype = this.#typed(buf, 'Irecv'), s = this.#source(source), t = this.#recvTag(tag);
    if (s === PROC_NULL) return Request.completed(this.#procNullStatus());
    return this.engine.recvTyped(buf, s, t, this.context, dtype, this.#ranks);
  }

  Sendrecv(
    sendbuf: TypedArray, dest: number, sendtag: number, recvbuf: TypedArray, source: number = ANY_SOURCE, recvtag: number = ANY_TAG,
  ): Promise<Status> {
    return rejecting(() => {
      this.#typed(sendbuf, 'Sendrecv'); this.#typed(recvbuf, 'Sendrecv');
      this.#dest(dest); this.#sendTag(sendtag); this.#source(source); this.#recvTag(recvtag);
      const received = this.Irecv(recvbuf, source, recvtag);
      const sent = this.Isend(sendbuf, dest, sendtag);
      return Promise.all([received.wait(), sent.wait()]).then(([status]) => status);
    });
  }

  Sendrecv_replace(buf: TypedArray, dest: number, sendtag: number, source: number = ANY_SOURCE, recvtag: number = ANY_TAG): Promise<Status> {
    return rejecting(() => {
      this.#typed(buf, 'Sendrecv_replace');
      // The outgoing copy lets the incoming message land in `buf` while the send still reads.
      return this.Sendrecv(buf.slice(), dest, sendtag, buf, source, recvtag);
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Probes (both kinds of message)

  probe(source: number = ANY_SOURCE, tag: number = ANY_TAG): Promise<Status> {
    return rejecting(() => {
      const s = this.#source(source), t = this.#recvTag(tag);
      if (s === PROC_NULL) return Promise.resolve(this.#procNullStatus());
      return this.engine.probe(s, t, this.context, this.#ranks);
    });
  }

  iprobe(source: number = ANY_SOURCE, tag: number = ANY_TAG): Promise<Status | undefined> {
    return rejecting(() => {
      const s = this.#source(source), t = this.#recvTag(tag);
      if (s === PROC_NULL) return Promise.resolve(this.#procNullStatus());
      return Promise.resolve(this.engine.iprobe(s, t, this.context, this.#ranks));
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Lifetime

  /** Ends the whole job (every rank of COMM_WORLD); tsmpirun exits with `errorcode`. */
  abort(errorcode = 1): never {
    const code = Number.isInteger(errorcode) ? errorcode : 1;
    return this.abortJob(code);
  }

  /** Marks this communicator unusable; later calls on it fail with TSMPI_ERR_COMM. */
  free(): void {
    this.checkUsable();
    this.#freed = true;
  }

  // ---------------------------------------------------------------------------------------------
  // Collective plumbing

  /** @internal A fresh tag per collective call: every rank calls collectives in the same order. */
  protected nextCollTag(): number {
    this.checkUsable();
    const tag = this.#collTag;
    this.#collTag = (this.#collTag + 1) & TAG_UB;
    return tag;
  }

  #makeChannel(): CollChannel {
    const engine = this.engine, members = this.members, ranks = this.#ranks, ctx = this.context + 1;
    return {
      rank: this.rank,
      size: this.size,
      send: (buf, dest, tag) => engine.sendTyped(buf, members[dest]!, tag, ctx, dtypeOf(buf), false).wait(),
      recv: (buf, source, tag) => engine.recvTyped(buf, members[source]!, tag, ctx, dtypeOf(buf), ranks).wait().then((s) => s.count),
      sendEncoded: (parts, dest, tag) => engine.sendEncoded(parts, members[dest]!, tag, ctx).wait(),
      recvEncoded: (source, tag) => engine.recvEncoded(members[source]!, tag, ctx).wait(),
      encode: (value) => encodeObject(value).parts,
      decode: (bytes) => decodeObject(bytes),
      sendError: (code: TsmpiErrorCode, message: string, dest: number, tag: number) =>
        engine.sendError(code, message, members[dest]!, tag, ctx).wait(),
    };
  }

  /** @internal Element type name, for messages of subclasses. */
  protected static dtypeName(buf: TypedArray): string {
    return dtypeName(dtypeOf(buf));
  }
}

/** irecv's request: the engine yields [value, status]; users get the value. */
class ObjectRecvRequest<T> extends Request<T> {
  constructor(inner: Request<[unknown, Status]>) {
    super(() => { inner.cancel(); return true; });
    inner.wait().then(
      ([value]) => this[settleRequest](value as T),
      (e) => this[failRequest](e),
    );
  }
}
