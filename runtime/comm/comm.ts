// Comm: a group of ranks with a context of their own (API.md). Every public method validates its
// arguments at the call, before anything is sent, and then hands the work to the engine (point-to-
// point, on the communicator's context) or to coll/ (collectives, on the hidden collective context
// next to it, so the two never match each other).
import { ANY_SOURCE, ANY_TAG, IN_PLACE, PROC_NULL, TAG_UB, type InPlace } from '../constants.js';
import { tsmpiError } from '../errors.js';
import * as coll from '../coll/api.js';
import { relayFailures } from '../coll/relay.js';
import { MAX, MIN, SUM, type OpLike } from '../coll/ops.js';
import type { CartComm } from './cart.js';
import { CallChannel, type CommWire } from './call-channel.js';
import { ContextIds } from './context-ids.js';
import { CommObserver } from './observed.js';
import { planSplit, splitArgsError } from './split-plan.js';
import type { Engine, RankMap } from '../p2p/engine.js';
import { OrderedQueue } from '../match/queues.js';
import { Request } from '../p2p/request.js';
import { Status } from '../p2p/status.js';
import { callLabel, type CallName } from '../wire/call-label.js';
import { dtypeName, dtypeOf, type TypedArray } from '../wire/dtype.js';

/** @internal Describes a value for an error message without printing it whole. */
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

/** @internal What every communicator of a process shares. */
export interface CommShared {
  engine: Engine;
  /** Ends the whole job with an exit code (through tsmpirun or the PMI launcher when there is one). */
  abortJob: (errorcode: number) => never;
  contextIds: ContextIds;
}

/** @internal */
export interface CommInit {
  shared: CommShared;
  /** Point-to-point context; the collective context is context + 1. */
  context: number;
  /** World rank of each member, in communicator rank order. */
  members: Int32Array;
  name: string;
  /** The first collective tag (above any an earlier communicator on this context used; context-ids.ts). */
  collTagStart?: number;
}

/** @internal A new communicator's context and members, agreed by its parent's members. */
export interface CommPlan {
  members: Int32Array;
  context: number;
  collTagStart: number;
}

/** @internal split's agreement for one new communicator: who is in mine, and its context (null for UNDEFINED). */
export type SplitPlanner = (color: number, key: number) => Promise<CommPlan | null>;

/** @internal */
export function newCommShared(engine: Engine, abortJob: (errorcode: number) => never): CommShared {
  return { engine, abortJob, contextIds: new ContextIds() };
}

/**
 * A typed buffer with per-rank element counts and optional displacements, for the v-variants
 * (`Scatterv`, `Gatherv`, `Allgatherv`, `Alltoallv`): `[buf, counts]` or `[buf, counts, displs]`.
 * Rank i's block is `counts[i]` elements starting at element `displs[i]` of `buf`; without `displs` the
 * blocks are packed in rank order.
 *
 * @example
 * ```ts
 * const buf = new Float64Array(6);
 * const spec: VectorSpec = [buf, [1, 2, 3]]; // rank 0: buf[0], rank 1: buf[1..2], rank 2: buf[3..5]
 * ```
 */
export type VectorSpec = coll.VectorSpec;

/**
 * A communicator (MPI_Comm): a group of ranks with a context of its own, so that its messages never
 * match another communicator's. {@link COMM_WORLD} holds every rank of the job and {@link COMM_SELF}
 * this rank alone; {@link Comm.dup}, {@link Comm.split} and {@link Comm.createCart} make new ones.
 *
 * Naming, as in mpi4py: lowercase methods (`send`, `recv`, `bcast`, `reduce`, …) move any serializable
 * value (msgpack: objects, arrays, strings, numbers, bigints, Map, Set, Date, typed arrays, nested)
 * and return what they receive. Capitalized methods (`Send`, `Recv`, `Bcast`, `Reduce`, …) move typed
 * arrays with no serialization and fill the receive buffer in place.
 *
 * Arguments are checked at the call, before anything is sent: a call that returns a promise rejects
 * with a {@link TsmpiError}, a call that returns a {@link Request} (`isend`, `irecv`, `Isend`,
 * `Irecv`, …) throws it. Every call fails with `TSMPI_ERR_COMM` once the communicator is freed or this
 * rank has called {@link finalize}.
 *
 * Collectives (`barrier`, `bcast`, … and their capitalized forms) are called by every rank of the
 * communicator, in the same order; ranks that call different collectives (or the same one with
 * different roots) fail with `TSMPI_ERR_COLL_MISMATCH` instead of hanging. A bad argument that only
 * one rank sees fails the call on every rank. Collectives never match point-to-point messages.
 *
 * @example
 * ```ts
 * import { COMM_WORLD as comm, SUM } from 'tsmpi';
 *
 * const n = 1_000_000;
 * let local = 0;
 * for (let i = comm.rank; i < n; i += comm.size) local += 4 / (1 + ((i + 0.5) / n) ** 2) / n;
 * const pi = await comm.reduce(local, SUM, 0);
 * if (comm.rank === 0) console.log(`pi ≈ ${pi}`);
 * ```
 */
export class Comm {
  /** This rank's number in the communicator: 0 … size-1 (MPI_Comm_rank). */
  readonly rank: number;
  /** The number of ranks in the communicator (MPI_Comm_size). */
  readonly size: number;
  /** @internal */ protected readonly engine: Engine;
  /** @internal */ protected readonly context: number;
  /** @internal */ protected readonly members: Int32Array;
  readonly #ranks: RankMap;
  #collTag = 0;
  #freed = false;
  #name: string;
  /** What collective calls of this communicator send and receive on (CallChannel). */
  readonly #wire: CommWire;
  /** Collective calls in progress: free() lets them finish before the context is given up. */
  readonly #running = new OrderedQueue<Promise<unknown>>();
  /** Spans of this communicator's calls when the rank records them (--profile, --trace); else undefined. */
  readonly #observer: CommObserver | undefined;
  /** @internal */ readonly shared: CommShared;

  /** @internal Communicators are made by the runtime (COMM_WORLD, dup, split, createCart). */
  constructor(init: CommInit) {
    this.shared = init.shared;
    this.engine = init.shared.engine;
    this.context = init.context;
    this.members = init.members;
    this.size = init.members.length;
    this.#name = init.name;
    this.#collTag = init.collTagStart ?? 0;
    const me = init.members.indexOf(this.engine.rank);
    this.rank = me;
    let identity = init.members.length === this.engine.size;
    for (let i = 0; identity && i < init.members.length; i++) identity = init.members[i] === i;
    if (identity) {
      this.#ranks = null;
    } else {
      const map = new Int32Array(this.engine.size).fill(-1);
      init.members.forEach((world, r) => { map[world] = r; });
      this.#ranks = map;
    }
    this.engine.openContext(this.context, this.#name, init.members, false);
    this.engine.openContext(this.context + 1, this.#name, init.members, true, this.#collTag);
    this.#wire = { engine: this.engine, members: init.members, ranks: this.#ranks, context: this.context + 1, rank: me, size: this.size };
    const rec = this.engine.recorder;
    if (rec !== undefined && (rec.settings.profile || rec.settings.trace)) {
      this.#observer = new CommObserver(rec, this.context, this.#name);
      this.#observer.instrument(this, Comm.prototype as unknown as Parameters<CommObserver['instrument']>[1]);
    }
  }

  /** A name for messages and reports: `COMM_WORLD`, `COMM_SELF`, `COMM_WORLD.dup`, `COMM_WORLD.split(1)`… */
  get name(): string {
    return this.#name;
  }

  // ---------------------------------------------------------------------------------------------
  // Validation: every public entry goes through these before anything is sent.

  /** @internal */
  protected checkUsable(): void {
    if (this.#freed) throw tsmpiError('TSMPI_ERR_COMM', `${this.#name} has been freed`);
    if (this.engine.finishing) throw tsmpiError('TSMPI_ERR_COMM', `${this.#name}: this rank has called finalize(); no communication after it`);
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

  /**
   * Sends any serializable value to rank `dest` (MPI_Send; mpi4py's `send`): objects, arrays, strings,
   * numbers, bigints, Map, Set, Date, typed arrays, nested (msgpack). The value is serialized at the
   * call, so changing it afterwards does not change the message. Resolves when the send is complete on
   * this side, not when the message is received; a rank may send to itself. Messages between two ranks
   * on one communicator arrive in the order sent. To {@link PROC_NULL}: completes at once, doing nothing.
   *
   * @param obj - the value to send.
   * @param dest - the destination rank in this communicator, or PROC_NULL.
   * @param tag - an integer 0 … {@link TAG_UB} (default 0) the receiver can select on.
   * @throws {@link TsmpiError} (as a rejection; nothing is sent) `TSMPI_ERR_RANK` for a `dest` outside
   *   0 … size-1; `TSMPI_ERR_TAG` for a bad tag; `TSMPI_ERR_SERIALIZE` for a value that cannot be sent
   *   (a function, a symbol…); `TSMPI_ERR_COMM` on a freed communicator or after finalize(). Later: `TSMPI_ERR_PEER_LOST` or `TSMPI_ERR_PEER_FINISHED` when the peer failed or finished first.
   *
   * @example
   * ```ts
   * import { COMM_WORLD as comm } from 'tsmpi';
   *
   * if (comm.rank === 0) {
   *   await comm.send({ step: 1, data: [1, 2, 3] }, 1, 7);
   * } else if (comm.rank === 1) {
   *   const msg = await comm.recv<{ step: number; data: number[] }>(0, 7);
   *   console.log(msg.data); // [1, 2, 3]
   * }
   * ```
   */
  send(obj: unknown, dest: number, tag = 0): Promise<void> {
    return rejecting(() => this.isend(obj, dest, tag).wait());
  }

  /**
   * As {@link Comm.send}, but resolves only once a receive on `dest` has matched the message
   * (MPI_Ssend): a synchronous send, for programs that must not run ahead of their receivers.
   *
   * @throws {@link TsmpiError} as {@link Comm.send}.
   */
  ssend(obj: unknown, dest: number, tag = 0): Promise<void> {
    return rejecting(() => this.issend(obj, dest, tag).wait());
  }

  /**
   * Starts sending `obj` to `dest` without waiting (MPI_Isend; mpi4py's `isend`) and returns its
   * {@link Request}: await it (or pass it to {@link Request.waitall}) to know the send is complete on
   * this side. The value is serialized at the call. Same arguments as {@link Comm.send}.
   *
   * @throws {@link TsmpiError} (at the call, synchronously) `TSMPI_ERR_RANK`, `TSMPI_ERR_TAG`,
   *   `TSMPI_ERR_SERIALIZE`, `TSMPI_ERR_COMM`, as {@link Comm.send}; the request rejects with
   *   `TSMPI_ERR_PEER_LOST` or `TSMPI_ERR_PEER_FINISHED` when the peer failed or finished first.
   *
   * @example
   * ```ts
   * const right = (comm.rank + 1) % comm.size, left = (comm.rank + comm.size - 1) % comm.size;
   * const [fromLeft] = await Request.waitall([comm.irecv<string>(left), comm.isend(`hello from ${comm.rank}`, right)]);
   * ```
   */
  isend(obj: unknown, dest: number, tag = 0): Request<void> {
    const d = this.#dest(dest), t = this.#sendTag(tag);
    return this.engine.sendObject(obj, d, t, this.context, false);
  }

  /**
   * As {@link Comm.isend}, but the request completes only once a receive on `dest` has matched the
   * message (MPI_Issend).
   *
   * @throws {@link TsmpiError} as {@link Comm.isend}.
   */
  issend(obj: unknown, dest: number, tag = 0): Request<void> {
    const d = this.#dest(dest), t = this.#sendTag(tag);
    return this.engine.sendObject(obj, d, t, this.context, true);
  }

  /**
   * Receives a value sent with `send`, `ssend`, `isend` or `issend` (MPI_Recv; mpi4py's `recv`) and
   * resolves with it. Objects of any size are received whole. `T` is what you expect the sender to
   * send: it is not checked. From {@link PROC_NULL}: resolves at once with undefined.
   *
   * @param source - the sender's rank, {@link ANY_SOURCE} (default) or PROC_NULL.
   * @param tag - the tag to match, or {@link ANY_TAG} (default).
   * @param status - filled in with the message's source, tag and size in bytes, when given.
   * @throws {@link TsmpiError} (as a rejection) `TSMPI_ERR_RANK` for a bad `source`; `TSMPI_ERR_TAG` for a
   *   bad tag; `TSMPI_ERR_COMM` on a freed communicator or after finalize(); `TSMPI_ERR_TYPE` when the matching message is a typed one (sent with
   *   `Send`: receive it with `Recv`); `TSMPI_ERR_PEER_LOST` or `TSMPI_ERR_PEER_FINISHED` when the peer failed or finished first.
   *
   * @example
   * ```ts
   * const status = new Status();
   * const job = await comm.recv<{ id: number }>(ANY_SOURCE, ANY_TAG, status);
   * console.log(`job ${job.id} from rank ${status.source}`);
   * ```
   */
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

  /**
   * Starts receiving a value (MPI_Irecv; mpi4py's `irecv`, with no size limit) and returns its
   * {@link Request}, which resolves with the value. A receive that has not matched yet can be withdrawn
   * with {@link Request.cancel} (it then resolves with undefined). Same arguments as {@link Comm.recv}.
   *
   * @throws {@link TsmpiError} (at the call, synchronously) `TSMPI_ERR_RANK`, `TSMPI_ERR_TAG`,
   *   `TSMPI_ERR_COMM`; the request rejects with `TSMPI_ERR_TYPE` for a typed message, or with
   *   `TSMPI_ERR_PEER_LOST` or `TSMPI_ERR_PEER_FINISHED` when the peer failed or finished first.
   *
   * @example
   * ```ts
   * const replies = [1, 2, 3].map((worker) => comm.irecv<number>(worker, 5));
   * const values = await Request.waitall(replies); // number[]
   * ```
   */
  irecv<T = unknown>(source: number = ANY_SOURCE, tag: number = ANY_TAG): Request<T> {
    const s = this.#source(source), t = this.#recvTag(tag);
    if (s === PROC_NULL) return Request.completed(undefined as T);
    const inner = this.engine.recvObject(s, t, this.context, this.#ranks);
    return Request.mapped(inner, ([value]) => value as T, () => { inner.cancel(); return true; });
  }

  /**
   * Sends `obj` to `dest` and receives a value from `source` at the same time (MPI_Sendrecv; mpi4py's
   * `sendrecv`), so that exchanges along a ring or between pairs cannot deadlock. Resolves with the
   * received value once both halves are complete; `status`, when given, describes the received message.
   *
   * @param obj - the value to send.
   * @param dest - where to send it (or PROC_NULL).
   * @param sendtag - the send's tag (default 0).
   * @param source - whom to receive from (default {@link ANY_SOURCE}; or PROC_NULL).
   * @param recvtag - the tag to receive (default {@link ANY_TAG}).
   * @param status - filled in for the received message, when given.
   * @throws {@link TsmpiError} (as a rejection; both halves are checked before either starts) as
   *   {@link Comm.send} and {@link Comm.recv}.
   *
   * @example
   * ```ts
   * const right = (comm.rank + 1) % comm.size, left = (comm.rank + comm.size - 1) % comm.size;
   * const fromLeft = await comm.sendrecv<number>(comm.rank, right, 0, left);
   * ```
   */
  sendrecv<T = unknown>(
    obj: unknown, dest: number, sendtag = 0, source: number = ANY_SOURCE, recvtag: number = ANY_TAG, status?: Status,
  ): Promise<T> {
    return rejecting(() => {
      // Validate both halves before either starts.
      this.#dest(dest); this.#sendTag(sendtag); this.#source(source); this.#recvTag(recvtag);
      // The send first: a value that cannot be serialized throws before any receive is posted.
      const sent = this.isend(obj, dest, sendtag).wait();
      const received = this.recv<T>(source, recvtag, status);
      return Promise.all([received, sent]).then(([value]) => value);
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Point-to-point, typed arrays

  /**
   * Sends the elements of a typed array to rank `dest` with no serialization (MPI_Send; mpi4py's
   * `Send`). Resolves when `buf` may be reused; do not change it before then. A `subarray` view sends
   * just its elements. To {@link PROC_NULL}: completes at once, doing nothing.
   *
   * @param buf - the elements to send (any {@link TypedArray}).
   * @param dest - the destination rank, or PROC_NULL.
   * @param tag - an integer 0 … {@link TAG_UB} (default 0).
   * @throws {@link TsmpiError} (as a rejection; nothing is sent) `TSMPI_ERR_TYPE` when `buf` is not a typed
   *   array; `TSMPI_ERR_RANK`; `TSMPI_ERR_TAG`; `TSMPI_ERR_COMM` on a freed communicator or after finalize(). Later: `TSMPI_ERR_PEER_LOST` or `TSMPI_ERR_PEER_FINISHED` when the peer failed or finished first.
   *
   * @example
   * ```ts
   * const buf = new Float64Array(1000);
   * if (comm.rank === 0) {
   *   buf.fill(1.5);
   *   await comm.Send(buf, 1);
   * } else if (comm.rank === 1) {
   *   const status = await comm.Recv(buf, 0);
   *   console.log(status.count); // 1000
   * }
   * ```
   */
  Send(buf: TypedArray, dest: number, tag = 0): Promise<void> {
    return rejecting(() => {
      const dtype = this.#typed(buf, 'Send'), d = this.#dest(dest), t = this.#sendTag(tag);
      return this.engine.sendTyped(buf, d, t, this.context, dtype, false).wait();
    });
  }

  /**
   * As {@link Comm.Send}, but resolves only once a receive on `dest` has matched the message (MPI_Ssend).
   *
   * @throws {@link TsmpiError} as {@link Comm.Send}.
   */
  Ssend(buf: TypedArray, dest: number, tag = 0): Promise<void> {
    return rejecting(() => {
      const dtype = this.#typed(buf, 'Ssend'), d = this.#dest(dest), t = this.#sendTag(tag);
      return this.engine.sendTyped(buf, d, t, this.context, dtype, true).wait();
    });
  }

  /**
   * Starts sending the elements of `buf` to `dest` without waiting (MPI_Isend). Do not change `buf`
   * until the request completes. The request resolves with a {@link Status}: this rank as source, the
   * tag, the number of elements sent (0 to PROC_NULL).
   *
   * @throws {@link TsmpiError} (at the call, synchronously) `TSMPI_ERR_TYPE`, `TSMPI_ERR_RANK`,
   *   `TSMPI_ERR_TAG`, `TSMPI_ERR_COMM`, as {@link Comm.Send}; the request rejects with `TSMPI_ERR_PEER_LOST` or `TSMPI_ERR_PEER_FINISHED` when the peer failed or finished first.
   *
   * @example
   * ```ts
   * const halo = [comm.Irecv(leftGhost, left), comm.Irecv(rightGhost, right), comm.Isend(leftEdge, left), comm.Isend(rightEdge, right)];
   * await Request.waitall(halo);
   * ```
   */
  Isend(buf: TypedArray, dest: number, tag = 0): Request<Status> {
    const dtype = this.#typed(buf, 'Isend'), d = this.#dest(dest), t = this.#sendTag(tag);
    return this.#sent(this.engine.sendTyped(buf, d, t, this.context, dtype, false), dest, t, buf.length);
  }

  /**
   * As {@link Comm.Isend}, but the request completes only once a receive on `dest` has matched the
   * message (MPI_Issend).
   *
   * @throws {@link TsmpiError} as {@link Comm.Isend}.
   */
  Issend(buf: TypedArray, dest: number, tag = 0): Request<Status> {
    const dtype = this.#typed(buf, 'Issend'), d = this.#dest(dest), t = this.#sendTag(tag);
    return this.#sent(this.engine.sendTyped(buf, d, t, this.context, dtype, true), dest, t, buf.length);
  }

  /** A typed send's request resolves to a Status as a receive's does: this rank, the tag, the elements sent. */
  #sent(req: Request<void>, dest: number, tag: number, count: number): Request<Status> {
    return Request.mapped(req, () => {
      const s = new Status();
      s.source = dest === PROC_NULL ? PROC_NULL : this.rank;
      s.tag = tag;
      s.count = dest === PROC_NULL ? 0 : count;
      return s;
    });
  }

  /**
   * Receives a typed message into `buf`, in place (MPI_Recv; mpi4py's `Recv`), and resolves with its
   * {@link Status}: source, tag, and `count`, the number of elements that arrived. `buf` may be longer
   * than the message; it must have the sender's element type. From {@link PROC_NULL}: resolves at once
   * with a Status of source PROC_NULL and count 0.
   *
   * @param buf - where the elements land (any {@link TypedArray}, or a `subarray` view).
   * @param source - the sender's rank, {@link ANY_SOURCE} (default) or PROC_NULL.
   * @param tag - the tag to match, or {@link ANY_TAG} (default).
   * @throws {@link TsmpiError} (as a rejection) `TSMPI_ERR_TYPE` when `buf` is not a typed array, or the
   *   message holds another element type or is an object message (receive it with `recv`);
   *   `TSMPI_ERR_TRUNCATE` when the message has more elements than `buf`; `TSMPI_ERR_RANK`;
   *   `TSMPI_ERR_TAG`; `TSMPI_ERR_COMM` on a freed communicator or after finalize(); `TSMPI_ERR_PEER_LOST` or `TSMPI_ERR_PEER_FINISHED` when the peer failed or finished first.
   *
   * @example
   * ```ts
   * const row = new Float64Array(512);
   * const status = await comm.Recv(row, ANY_SOURCE, 2);
   * console.log(`${status.count} values from rank ${status.source}`);
   * ```
   */
  Recv(buf: TypedArray, source: number = ANY_SOURCE, tag: number = ANY_TAG): Promise<Status> {
    return rejecting(() => this.Irecv(buf, source, tag).wait());
  }

  /**
   * Starts receiving a typed message into `buf` (MPI_Irecv) and returns its {@link Request}, which
   * resolves with the message's {@link Status}. Do not read or change `buf` until it completes. A
   * receive that has not matched yet can be withdrawn with {@link Request.cancel} (its Status then says
   * `cancelled`). Same arguments as {@link Comm.Recv}.
   *
   * @throws {@link TsmpiError} (at the call, synchronously) `TSMPI_ERR_TYPE`, `TSMPI_ERR_RANK`,
   *   `TSMPI_ERR_TAG`, `TSMPI_ERR_COMM`; the request rejects with `TSMPI_ERR_TRUNCATE`, `TSMPI_ERR_TYPE`
   *   (as {@link Comm.Recv}), or `TSMPI_ERR_PEER_LOST` or `TSMPI_ERR_PEER_FINISHED` when the peer failed or finished first.
   *
   * @example
   * ```ts
   * const incoming = new Int32Array(100);
   * const req = comm.Irecv(incoming, 0, 9);
   * doOtherWork();
   * const status = await req;
   * ```
   */
  Irecv(buf: TypedArray, source: number = ANY_SOURCE, tag: number = ANY_TAG): Request<Status> {
    const dtype = this.#typed(buf, 'Irecv'), s = this.#source(source), t = this.#recvTag(tag);
    if (s === PROC_NULL) return Request.completed(this.#procNullStatus());
    return this.engine.recvTyped(buf, s, t, this.context, dtype, this.#ranks);
  }

  /**
   * Sends `sendbuf` to `dest` and receives into `recvbuf` from `source` at the same time (MPI_Sendrecv),
   * so that shifts along a ring or a grid cannot deadlock; resolves with the received message's
   * {@link Status} once both halves are complete. The two buffers must not overlap (use
   * {@link Comm.Sendrecv_replace} for one buffer).
   *
   * @param sendbuf - the elements to send.
   * @param dest - where to send them (or PROC_NULL).
   * @param sendtag - the send's tag.
   * @param recvbuf - where the received elements land.
   * @param source - whom to receive from (default {@link ANY_SOURCE}; or PROC_NULL).
   * @param recvtag - the tag to receive (default {@link ANY_TAG}).
   * @throws {@link TsmpiError} (as a rejection; both halves are checked before either starts) as
   *   {@link Comm.Send} and {@link Comm.Recv}.
   *
   * @example
   * ```ts
   * const { source, dest } = grid.shift(0, 1);
   * const status = await grid.Sendrecv(myEdge, dest, 0, ghost, source, 0);
   * ```
   */
  Sendrecv(
    sendbuf: TypedArray, dest: number, sendtag: number, recvbuf: TypedArray, source: number = ANY_SOURCE, recvtag: number = ANY_TAG,
  ): Promise<Status> {
    return rejecting(() => {
      this.#typed(sendbuf, 'Sendrecv'); this.#typed(recvbuf, 'Sendrecv');
      this.#dest(dest); this.#sendTag(sendtag); this.#source(source); this.#recvTag(recvtag);
      const received = this.Irecv(recvbuf, source, recvtag);
      const sent = this.Send(sendbuf, dest, sendtag);
      return Promise.all([received.wait(), sent]).then(([status]) => status);
    });
  }

  /**
   * Sends the elements of `buf` to `dest` and replaces them with a message from `source`
   * (MPI_Sendrecv_replace): as {@link Comm.Sendrecv} with one buffer (the outgoing elements are copied
   * first). Resolves with the received message's {@link Status}.
   *
   * @throws {@link TsmpiError} (as a rejection) as {@link Comm.Sendrecv}.
   *
   * @example
   * ```ts
   * const block = Float64Array.of(comm.rank, comm.rank);
   * await comm.Sendrecv_replace(block, right, 0, left, 0); // block now holds the left neighbour's values
   * ```
   */
  Sendrecv_replace(buf: TypedArray, dest: number, sendtag: number, source: number = ANY_SOURCE, recvtag: number = ANY_TAG): Promise<Status> {
    return rejecting(() => {
      this.#typed(buf, 'Sendrecv_replace');
      // The outgoing copy lets the incoming message land in `buf` while the send still reads.
      return this.Sendrecv(buf.slice(), dest, sendtag, buf, source, recvtag);
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Probes (both kinds of message)

  /**
   * Waits until a message from `source` with `tag` can be received, without receiving it (MPI_Probe),
   * and resolves with its {@link Status}: its source, its tag, and its `count` (elements for a typed
   * message, bytes for an object), so that the receive can be sized and directed. Works for both kinds
   * of message. From {@link PROC_NULL}: resolves at once with a Status of source PROC_NULL.
   *
   * @throws {@link TsmpiError} (as a rejection) `TSMPI_ERR_RANK`, `TSMPI_ERR_TAG`, `TSMPI_ERR_COMM` on a freed communicator or after finalize();
   *   `TSMPI_ERR_PEER_LOST` or `TSMPI_ERR_PEER_FINISHED` when the peer failed or finished first.
   *
   * @example
   * ```ts
   * const status = await comm.probe(ANY_SOURCE, 3);
   * const data = new Int32Array(status.count); // a typed message: count is in elements
   * await comm.Recv(data, status.source, status.tag);
   * ```
   */
  probe(source: number = ANY_SOURCE, tag: number = ANY_TAG): Promise<Status> {
    return rejecting(() => {
      const s = this.#source(source), t = this.#recvTag(tag);
      if (s === PROC_NULL) return Promise.resolve(this.#procNullStatus());
      return this.engine.probe(s, t, this.context, this.#ranks);
    });
  }

  /**
   * As {@link Comm.probe}, without waiting (MPI_Iprobe): resolves with the Status of a message that has
   * already arrived, or undefined when none has.
   *
   * @throws {@link TsmpiError} (as a rejection) `TSMPI_ERR_RANK`, `TSMPI_ERR_TAG`, `TSMPI_ERR_COMM` on a freed communicator or after finalize().
   */
  iprobe(source: number = ANY_SOURCE, tag: number = ANY_TAG): Promise<Status | undefined> {
    return rejecting(() => {
      const s = this.#source(source), t = this.#recvTag(tag);
      if (s === PROC_NULL) return Promise.resolve(this.#procNullStatus());
      return Promise.resolve(this.engine.iprobe(s, t, this.context, this.#ranks));
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Lifetime

  /**
   * Ends the whole job at once (MPI_Abort): every rank of COMM_WORLD, whatever communicator it is called
   * on. `tsmpirun` (or the PMI launcher) exits with `errorcode`. Never returns.
   *
   * @param errorcode - the job's exit status (default 1; a non-integer counts as 1).
   *
   * @example
   * ```ts
   * import { existsSync } from 'node:fs';
   *
   * if (comm.rank === 0 && !existsSync(inputFile)) {
   *   console.error(`${inputFile} not found`);
   *   comm.abort(2); // tsmpirun exits with status 2; no rank is left waiting
   * }
   * ```
   */
  abort(errorcode = 1): never {
    const code = Number.isInteger(errorcode) ? errorcode : 1;
    return this.shared.abortJob(code);
  }

  /**
   * Marks this communicator unusable: later calls on it fail with TSMPI_ERR_COMM. Operations already
   * started on it (receives, sends, collectives) complete normally; its context is given up once they
   * have (MPI_Comm_free). Local: sends no message.
   *
   * @throws {@link TsmpiError} `TSMPI_ERR_COMM` for COMM_WORLD and COMM_SELF (which cannot be freed), a
   *   communicator already freed, or after finalize().
   */
  free(): void {
    this.checkUsable();
    if (this.context === 0 || this.context === 2) throw tsmpiError('TSMPI_ERR_COMM', `${this.#name} cannot be freed`);
    this.#freed = true;
    const context = this.context, tagsUsed = this.#collTag;
    const giveUp = (): Promise<void> | void => {
      const pending = [this.engine.retireContext(context), this.engine.retireContext(context + 1)].filter((p) => p !== undefined);
      if (pending.length === 0) return this.shared.contextIds.release(context >> 1, tagsUsed);
      return Promise.all(pending).then(() => this.shared.contextIds.release(context >> 1, tagsUsed));
    };
    // With nothing in flight the id is free at once (a dup right after free may take it).
    if (this.#running.length === 0) void giveUp();
    else void Promise.allSettled([...this.#running]).then(giveUp);
  }

  /**
   * A new communicator with the same members and a context of its own (MPI_Comm_dup): its messages and
   * collectives never match those of this one, so a library can work on its own duplicate without
   * disturbing the caller's messages. Collective: every rank of this communicator calls it.
   *
   * @throws {@link TsmpiError} (as a rejection) `TSMPI_ERR_COMM` on a freed communicator or after finalize(), or when no free context is left (too many
   *   communicators alive); `TSMPI_ERR_COLL_MISMATCH` when the ranks called different collectives (or roots) here; `TSMPI_ERR_PEER_LOST` / `TSMPI_ERR_PEER_FINISHED`.
   *
   * @example
   * ```ts
   * const own = await comm.dup();
   * try {
   *   await own.allreduce(1);
   * } finally {
   *   own.free();
   * }
   * ```
   */
  dup(): Promise<Comm> {
    return this.#collective('dup', -1, async (ch, tag) => {
      const { slot, collTagStart } = await this.#agreeContext(ch, tag, true);
      return new Comm({ shared: this.shared, context: slot * 2, members: this.members, collTagStart, name: `${this.#name}.dup` });
    });
  }

  /**
   * Splits this communicator (MPI_Comm_split): ranks giving the same colour form a new communicator,
   * ordered by key then rank; UNDEFINED gives null. Collective: every rank of this communicator calls it.
   *
   * @param color - a non-negative integer, or {@link UNDEFINED} to be in no new communicator.
   * @param key - orders the ranks within the new communicator (default: this rank, keeping the order);
   *   any safe integer, negative included.
   * @throws {@link TsmpiError} (as a rejection) `TSMPI_ERR_ARG` (on the rank that passed it) unless
   *   `color` is a non-negative safe integer or UNDEFINED and `key` a safe integer; `TSMPI_ERR_COMM` on a freed communicator or after finalize();
   *   `TSMPI_ERR_COLL_MISMATCH` when the ranks called different collectives (or roots) here; `TSMPI_ERR_PEER_LOST` / `TSMPI_ERR_PEER_FINISHED`.
   *
   * @example
   * ```ts
   * // Rows of a 4-wide layout: ranks 0-3, 4-7, … each get a communicator of their own.
   * const row = (await comm.split(Math.floor(comm.rank / 4)))!;
   * const rowSum = await row.allreduce(comm.rank);
   * ```
   */
  split(color: number, key: number = this.rank): Promise<Comm | null> {
    return this.#collective('split', -1, async (ch, tag) => {
      const plan = await this.#planSplit(ch, tag, color, key);
      return plan && new Comm({ shared: this.shared, ...plan, name: `${this.#name}.split(${color})` });
    });
  }

  /**
   * A Cartesian topology over the first prod(dims) ranks (MPI_Cart_create); the others get null.
   * Collective: every rank of this communicator calls it, with the same arguments.
   *
   * @param dims - the grid's size along each dimension (positive integers); {@link computeDims}
   *   balances them for a number of ranks. An empty array makes a zero-dimensional grid of one rank.
   * @param periods - whether each dimension wraps around (booleans or 0/1; default all false).
   * @param reorder - accepted for MPI's sake (default false): ranks always keep their order.
   * @throws {@link TsmpiError} (as a rejection) `TSMPI_ERR_DIMS` when `dims` is not an array of positive
   *   integers, `periods` has another length, or the grid has more nodes than this communicator has
   *   ranks; `TSMPI_ERR_ARG` for a period that is not a boolean, 0 or 1; `TSMPI_ERR_COMM` on a freed communicator or after finalize(); `TSMPI_ERR_COLL_MISMATCH` when the ranks called different collectives (or roots) here; `TSMPI_ERR_PEER_LOST` / `TSMPI_ERR_PEER_FINISHED`.
   *
   * @example
   * ```ts
   * const grid = await comm.createCart(computeDims(comm.size, 2), [true, false]);
   * if (grid) {
   *   const { source, dest } = grid.shift(1, 1); // neighbours along dimension 1 (PROC_NULL at the edges)
   *   console.log(`rank ${grid.rank} at ${grid.coords}: left ${source}, right ${dest}`);
   * }
   * ```
   */
  createCart(dims: readonly number[], periods?: readonly (boolean | 0 | 1)[], reorder = false): Promise<CartComm | null> {
    return this.splitCall('createCart', async (plan) => {
      const { makeCart } = await import('./cart.js');
      return makeCart(this, plan, dims, periods, reorder);
    });
  }

  /**
   * @internal Runs a communicator constructor built on split as one collective call of this
   * communicator: its tag is taken at the call, so every internal round pairs with the same call on
   * every rank whatever else is in flight (a collective started before the constructor settles).
   */
  protected splitCall<R>(name: 'createCart' | 'sub', build: (plan: SplitPlanner) => Promise<R>): Promise<R> {
    return this.#collective(name, -1, (ch, tag) => build((color, key) => this.#planSplit(ch, tag, color, key)));
  }

  /** split's agreement, as rounds of the call `tag`: who is in my new communicator, and its context. */
  async #planSplit(ch: CallChannel, tag: number, color: number, key: number): Promise<CommPlan | null> {
    const entries = await relayFailures(ch, tag, [], splitArgsError(color, key), () => coll.allgather<[number, number]>(ch, [color, key], tag));
    const plan = planSplit(entries.map(([c, k]) => ({ color: c, key: k })), this.rank);
    const { slot, collTagStart } = await this.#agreeContext(ch, tag, plan !== null);
    if (!plan) return null;
    return { members: Int32Array.from(plan.members, (r) => this.members[r]!), context: slot * 2, collTagStart };
  }

  /**
   * Agrees a context slot with every member, and the first collective tag of the communicator that gets
   * it: the highest any member's earlier communicators on the slot reached (context-ids.ts). `take`
   * false: take part without joining (split's UNDEFINED). Its rounds are rounds of the constructor's
   * call (`tag`), in order, so they pair up across ranks whatever the ranks do meanwhile.
   */
  async #agreeContext(ch: CallChannel, tag: number, take: boolean): Promise<{ slot: number; collTagStart: number }> {
    const ids = this.shared.contextIds;
    // verdict: [1 if every member reserved the candidate, -(highest first fresh tag)] under MIN.
    const proposal = new Int32Array(1), verdict = new Int32Array(2);
    for (let from = 0; ;) {
      proposal[0] = ids.lowestAvailable(from);
      await coll.Allreduce(ch, IN_PLACE, proposal, MAX, tag);
      const candidate = proposal[0]!;
      // Every member sees the same candidate, so they all fail together when none is left.
      if (candidate < 0) {
        throw tsmpiError('TSMPI_ERR_COMM', `no free context id left on every member of ${this.#name} (too many communicators alive)`);
      }
      const reserved = ids.reserve(candidate);
      verdict[0] = reserved ? 1 : 0;
      verdict[1] = -ids.firstFreshTag(candidate);
      await coll.Allreduce(ch, IN_PLACE, verdict, MIN, tag);
      if (verdict[0] === 1) {
        ids.settle(candidate, take);
        return { slot: candidate, collTagStart: Math.abs(verdict[1]!) };
      }
      if (reserved) ids.settle(candidate, false);
      from = candidate + 1;
    }
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

  /**
   * Runs one collective call: its tag is taken now, at the call, and every message of the call is
   * labelled with the call's name and root (so ranks that called different collectives find out), on a
   * channel of its own; the call is listed for hang reports while it runs.
   */
  #collective<R>(name: CallName, root: number, run: (ch: CallChannel, tag: number) => Promise<R>): Promise<R> {
    return rejecting(() => {
      const tag = this.nextCollTag();
      const active = { op: name, context: this.context + 1, root, tag, since: Date.now() };
      const set = this.engine.activeCollectives;
      set.push(active);
      const label = callLabel(name, root);
      let call: Promise<R>;
      try {
        call = this.#observer
          ? this.#observer.collective(name, root, tag, this.#wire, label, run)
          : run(new CallChannel(this.#wire, label), tag);
      } catch (e) {
        set.remove(active);
        throw e;
      }
      this.#running.push(call);
      // One reaction for both outcomes (`finally` would add two before the program's await resumes).
      const end = () => {
        set.remove(active);
        this.#running.remove(call);
      };
      return call.then(
        (value) => {
          end();
          return value;
        },
        (error: unknown) => {
          end();
          throw error;
        },
      );
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Collectives, objects

  /**
   * Resolves once every rank of this communicator has called it (MPI_Barrier).
   *
   * @throws {@link TsmpiError} (as a rejection) `TSMPI_ERR_COMM` on a freed communicator or after finalize(); `TSMPI_ERR_COLL_MISMATCH` when the ranks called different collectives (or roots) here; `TSMPI_ERR_PEER_LOST` / `TSMPI_ERR_PEER_FINISHED`.
   */
  barrier(): Promise<void> { return this.#collective('barrier', -1, (ch, t) => coll.barrier(ch, t)); }
  /**
   * Broadcasts root's value to every rank (MPI_Bcast; mpi4py's `bcast`): every rank resolves with root's
   * `obj` (root with its own; the others with a copy). The other ranks' `obj` is ignored.
   *
   * @param obj - the value, at the root (any serializable value; ignored elsewhere).
   * @param root - the rank whose value is sent (default 0).
   * @throws {@link TsmpiError} (as a rejection, on every rank) `TSMPI_ERR_ROOT` for a root outside
   *   0 … size-1; `TSMPI_ERR_SERIALIZE` when root's value cannot be sent; `TSMPI_ERR_COMM` on a freed communicator or after finalize(); `TSMPI_ERR_COLL_MISMATCH` when the ranks called different collectives (or roots) here; `TSMPI_ERR_PEER_LOST` / `TSMPI_ERR_PEER_FINISHED`.
   *
   * @example
   * ```ts
   * const settings = await comm.bcast(comm.rank === 0 ? { steps: 100, dt: 0.01 } : null);
   * console.log(settings!.steps); // 100 on every rank
   * ```
   */
  bcast<T>(obj: T, root = 0): Promise<T> { return this.#collective('bcast', root, (ch, t) => coll.bcast<T>(ch, obj, root, t)); }
  /**
   * Hands out root's list, one item per rank (MPI_Scatter; mpi4py's `scatter`): rank i resolves with
   * `objs[i]`. The other ranks' `objs` is ignored (pass undefined).
   *
   * @param objs - at the root, a list of exactly `size` items.
   * @param root - the rank whose list is scattered (default 0).
   * @throws {@link TsmpiError} (as a rejection, on every rank) `TSMPI_ERR_TYPE` when root's `objs` is not a
   *   list; `TSMPI_ERR_COUNT` when it does not have `size` items; `TSMPI_ERR_ROOT`;
   *   `TSMPI_ERR_SERIALIZE`; `TSMPI_ERR_COMM` on a freed communicator or after finalize(); `TSMPI_ERR_COLL_MISMATCH` when the ranks called different collectives (or roots) here; `TSMPI_ERR_PEER_LOST` / `TSMPI_ERR_PEER_FINISHED`.
   *
   * @example
   * ```ts
   * const ranges = comm.rank === 0 ? Array.from({ length: comm.size }, (_, i) => [i * 100, i * 100 + 100]) : undefined;
   * const [from, to] = await comm.scatter(ranges);
   * const found = await comm.gather(countPrimes(from!, to!)); // number[] on rank 0, undefined elsewhere
   * if (comm.rank === 0) console.log(found!.reduce((a, b) => a + b));
   * ```
   */
  scatter<T>(objs: readonly T[] | undefined, root = 0): Promise<T> { return this.#collective('scatter', root, (ch, t) => coll.scatter<T>(ch, objs, root, t)); }
  /**
   * Collects one value from every rank at the root (MPI_Gather; mpi4py's `gather`): root resolves with
   * the list of every rank's `obj` in rank order, the other ranks with undefined.
   *
   * @param obj - this rank's value.
   * @param root - the rank that receives the list (default 0).
   * @throws {@link TsmpiError} (as a rejection, on every rank) `TSMPI_ERR_ROOT`; `TSMPI_ERR_SERIALIZE`;
   *   `TSMPI_ERR_COMM` on a freed communicator or after finalize(); `TSMPI_ERR_COLL_MISMATCH` when the ranks called different collectives (or roots) here; `TSMPI_ERR_PEER_LOST` / `TSMPI_ERR_PEER_FINISHED`.
   *
   * @example
   * ```ts
   * const names = await comm.gather(getProcessorName(), 0);
   * if (comm.rank === 0) console.log(names); // one host name per rank, in rank order
   * ```
   */
  gather<T>(obj: T, root = 0): Promise<T[] | undefined> { return this.#collective('gather', root, (ch, t) => coll.gather<T>(ch, obj, root, t)); }
  /**
   * Collects one value from every rank on every rank (MPI_Allgather; mpi4py's `allgather`): resolves
   * with the list of every rank's `obj`, in rank order.
   *
   * @throws {@link TsmpiError} (as a rejection, on every rank) `TSMPI_ERR_SERIALIZE`; `TSMPI_ERR_COMM` on a freed communicator or after finalize();
   *   `TSMPI_ERR_COLL_MISMATCH` when the ranks called different collectives (or roots) here; `TSMPI_ERR_PEER_LOST` / `TSMPI_ERR_PEER_FINISHED`.
   *
   * @example
   * ```ts
   * const loads = await comm.allgather(queue.length); // number[], the same on every rank
   * ```
   */
  allgather<T>(obj: T): Promise<T[]> { return this.#collective('allgather', -1, (ch, t) => coll.allgather<T>(ch, obj, t)); }
  /**
   * Every rank sends a value to every rank (MPI_Alltoall; mpi4py's `alltoall`): `objs[j]` goes to rank j,
   * and item i of the resolved list came from rank i.
   *
   * @param objs - a list of exactly `size` items, one per destination rank.
   * @throws {@link TsmpiError} (as a rejection, on every rank) `TSMPI_ERR_TYPE` when `objs` is not a list;
   *   `TSMPI_ERR_COUNT` when it does not have `size` items; `TSMPI_ERR_SERIALIZE`; `TSMPI_ERR_COMM` on a freed communicator or after finalize();
   *   `TSMPI_ERR_COLL_MISMATCH` when the ranks called different collectives (or roots) here; `TSMPI_ERR_PEER_LOST` / `TSMPI_ERR_PEER_FINISHED`.
   */
  alltoall<T>(objs: readonly T[]): Promise<T[]> { return this.#collective('alltoall', -1, (ch, t) => coll.alltoall<T>(ch, objs, t)); }
  /**
   * Combines every rank's value with `op` at the root (MPI_Reduce; mpi4py's `reduce`): root resolves with
   * op(…op(op(v0, v1), v2)…, v(size-1)), in rank order; the other ranks with undefined. The values are
   * not modified.
   *
   * @param obj - this rank's operand: a number, bigint, boolean, string, array or typed array (as `op`
   *   allows), or anything a user op takes.
   * @param op - the operation (default {@link SUM}); see {@link Op} for what each predefined op accepts.
   * @param root - the rank that gets the result (default 0).
   * @throws {@link TsmpiError} (as a rejection, on every rank) `TSMPI_ERR_OP` when `op` is not an {@link Op} or a function, or is not defined on the values (a user op that throws, too); `TSMPI_ERR_COUNT` for arrays of different lengths; `TSMPI_ERR_ROOT`; `TSMPI_ERR_COMM` on a freed communicator or after finalize();
   *   `TSMPI_ERR_COLL_MISMATCH` when the ranks called different collectives (or roots) here; `TSMPI_ERR_PEER_LOST` / `TSMPI_ERR_PEER_FINISHED`.
   *
   * @example
   * ```ts
   * import { COMM_WORLD as comm, MAX, SUM } from 'tsmpi';
   *
   * const local = comm.rank + 1;
   * const total = await comm.reduce(local, SUM, 0); // number on rank 0, undefined elsewhere
   * const largest = await comm.allreduce(local, MAX); // number on every rank
   * if (comm.rank === 0) console.log(total, largest);
   * ```
   */
  reduce<T>(obj: T, op: OpLike = SUM, root = 0): Promise<T | undefined> { return this.#collective('reduce', root, (ch, t) => coll.reduce<T>(ch, obj, op, root, t)); }
  /**
   * Combines every rank's value with `op` and gives the result to every rank (MPI_Allreduce; mpi4py's
   * `allreduce`): the same value on every rank, combined in rank order.
   *
   * @param obj - this rank's operand (see {@link Comm.reduce}).
   * @param op - the operation (default {@link SUM}).
   * @throws {@link TsmpiError} (as a rejection, on every rank) `TSMPI_ERR_OP` when `op` is not an {@link Op} or a function, or is not defined on the values (a user op that throws, too); `TSMPI_ERR_COUNT` for arrays of different lengths; `TSMPI_ERR_COMM` on a freed communicator or after finalize(); `TSMPI_ERR_COLL_MISMATCH` when the ranks called different collectives (or roots) here; `TSMPI_ERR_PEER_LOST` / `TSMPI_ERR_PEER_FINISHED`.
   *
   * @example
   * ```ts
   * const [sum, count] = await comm.allreduce([localSum, localCount], SUM); // arrays add element by element
   * const mean = sum / count;
   * ```
   */
  allreduce<T>(obj: T, op: OpLike = SUM): Promise<T> { return this.#collective('allreduce', -1, (ch, t) => coll.allreduce<T>(ch, obj, op, t)); }
  /**
   * Inclusive prefix reduction (MPI_Scan; mpi4py's `scan`): rank i resolves with the combination of the
   * values of ranks 0 … i.
   *
   * @param op - the operation (default {@link SUM}).
   * @throws {@link TsmpiError} (as a rejection, on every rank) `TSMPI_ERR_OP` when `op` is not an {@link Op} or a function, or is not defined on the values (a user op that throws, too); `TSMPI_ERR_COUNT` for arrays of different lengths; `TSMPI_ERR_COMM` on a freed communicator or after finalize(); `TSMPI_ERR_COLL_MISMATCH` when the ranks called different collectives (or roots) here; `TSMPI_ERR_PEER_LOST` / `TSMPI_ERR_PEER_FINISHED`.
   *
   * @example
   * ```ts
   * const end = await comm.scan(myCount); // where this rank's items end in the global order
   * const start = end - myCount;
   * ```
   */
  scan<T>(obj: T, op: OpLike = SUM): Promise<T> { return this.#collective('scan', -1, (ch, t) => coll.scan<T>(ch, obj, op, t)); }
  /**
   * Exclusive prefix reduction (MPI_Exscan; mpi4py's `exscan`): rank i resolves with the combination of
   * the values of ranks 0 … i-1; rank 0 with undefined.
   *
   * @param op - the operation (default {@link SUM}).
   * @throws {@link TsmpiError} (as a rejection, on every rank) `TSMPI_ERR_OP` when `op` is not an {@link Op} or a function, or is not defined on the values (a user op that throws, too); `TSMPI_ERR_COUNT` for arrays of different lengths; `TSMPI_ERR_COMM` on a freed communicator or after finalize(); `TSMPI_ERR_COLL_MISMATCH` when the ranks called different collectives (or roots) here; `TSMPI_ERR_PEER_LOST` / `TSMPI_ERR_PEER_FINISHED`.
   */
  exscan<T>(obj: T, op: OpLike = SUM): Promise<T | undefined> { return this.#collective('exscan', -1, (ch, t) => coll.exscan<T>(ch, obj, op, t)); }

  // ---------------------------------------------------------------------------------------------
  // Collectives, typed arrays

  /**
   * As {@link Comm.barrier} (MPI_Barrier; both names exist, as in mpi4py).
   *
   * @throws {@link TsmpiError} (as a rejection) `TSMPI_ERR_COMM` on a freed communicator or after finalize(); `TSMPI_ERR_COLL_MISMATCH` when the ranks called different collectives (or roots) here; `TSMPI_ERR_PEER_LOST` / `TSMPI_ERR_PEER_FINISHED`.
   */
  Barrier(): Promise<void> { return this.#collective('Barrier', -1, (ch, t) => coll.Barrier(ch, t)); }
  /**
   * Broadcasts root's typed array into every rank's `buf`, in place (MPI_Bcast; mpi4py's `Bcast`). Every
   * rank passes a buffer of the same element type and length.
   *
   * @param buf - root's elements to send; elsewhere where they land.
   * @param root - the rank whose buffer is sent (default 0).
   * @throws {@link TsmpiError} (as a rejection, on every rank) `TSMPI_ERR_ROOT`; `TSMPI_ERR_TYPE` when `buf`
   *   is not a typed array; `TSMPI_ERR_TYPE` / `TSMPI_ERR_COUNT` when the ranks' buffers disagree in element type or length; `TSMPI_ERR_COMM` on a freed communicator or after finalize(); `TSMPI_ERR_COLL_MISMATCH` when the ranks called different collectives (or roots) here; `TSMPI_ERR_PEER_LOST` / `TSMPI_ERR_PEER_FINISHED`.
   *
   * @example
   * ```ts
   * const weights = new Float64Array(1024);
   * if (comm.rank === 0) weights.fill(0.5);
   * await comm.Bcast(weights, 0); // every rank's weights now hold root's values
   * ```
   */
  Bcast(buf: TypedArray, root = 0): Promise<void> { return this.#collective('Bcast', root, (ch, t) => coll.Bcast(ch, buf, root, t)); }
  /**
   * Hands out equal blocks of root's `sendbuf` (MPI_Scatter): rank i's `recvbuf` receives elements
   * i·n … (i+1)·n-1, where n is `recvbuf.length`. The other ranks' `sendbuf` is ignored (pass null).
   *
   * @param sendbuf - at the root, `size` blocks of n elements.
   * @param recvbuf - this rank's block; {@link IN_PLACE} at the root leaves root's block in `sendbuf`.
   * @param root - the rank whose buffer is scattered (default 0).
   * @throws {@link TsmpiError} (as a rejection, on every rank) `TSMPI_ERR_ROOT`; `TSMPI_ERR_TYPE` when a buffer is not a typed array or the element types differ;
   *   `TSMPI_ERR_COUNT` when root's `sendbuf` is not `size` blocks of `recvbuf.length`; `TSMPI_ERR_ARG`
   *   for IN_PLACE elsewhere than at the root; `TSMPI_ERR_TYPE` / `TSMPI_ERR_COUNT` when the ranks' buffers disagree in element type or length; `TSMPI_ERR_COMM` on a freed communicator or after finalize(); `TSMPI_ERR_COLL_MISMATCH` when the ranks called different collectives (or roots) here; `TSMPI_ERR_PEER_LOST` / `TSMPI_ERR_PEER_FINISHED`.
   *
   * @example
   * ```ts
   * const block = new Float64Array(256);
   * const all = comm.rank === 0 ? new Float64Array(256 * comm.size).map((_, i) => i) : null;
   * await comm.Scatter(all, block, 0);
   * ```
   */
  Scatter(sendbuf: TypedArray | null | undefined, recvbuf: TypedArray | InPlace, root = 0): Promise<void> {
    return this.#collective('Scatter', root, (ch, t) => coll.Scatter(ch, sendbuf, recvbuf, root, t));
  }
  /**
   * Collects equal blocks from every rank into root's `recvbuf` (MPI_Gather): rank i's `sendbuf` lands at
   * elements i·n … (i+1)·n-1. The other ranks' `recvbuf` is ignored (pass null).
   *
   * @param sendbuf - this rank's block of n elements; {@link IN_PLACE} at the root when its block is
   *   already in place in `recvbuf`.
   * @param recvbuf - at the root, room for `size` blocks.
   * @param root - the rank that receives (default 0).
   * @throws {@link TsmpiError} (as a rejection, on every rank) `TSMPI_ERR_ROOT`; `TSMPI_ERR_TYPE` when a buffer is not a typed array or the element types differ;
   *   `TSMPI_ERR_COUNT` when root's `recvbuf` is not `size` blocks of `sendbuf.length`; `TSMPI_ERR_ARG`
   *   for IN_PLACE elsewhere than at the root; `TSMPI_ERR_TYPE` / `TSMPI_ERR_COUNT` when the ranks' buffers disagree in element type or length; `TSMPI_ERR_COMM` on a freed communicator or after finalize(); `TSMPI_ERR_COLL_MISMATCH` when the ranks called different collectives (or roots) here; `TSMPI_ERR_PEER_LOST` / `TSMPI_ERR_PEER_FINISHED`.
   *
   * @example
   * ```ts
   * const all = comm.rank === 0 ? new Float64Array(4 * comm.size) : null;
   * await comm.Gather(Float64Array.of(comm.rank, 1, 2, 3), all, 0);
   * ```
   */
  Gather(sendbuf: TypedArray | InPlace, recvbuf: TypedArray | null | undefined, root = 0): Promise<void> {
    return this.#collective('Gather', root, (ch, t) => coll.Gather(ch, sendbuf, recvbuf, root, t));
  }
  /**
   * Collects equal blocks from every rank into every rank's `recvbuf` (MPI_Allgather): rank i's block
   * lands at elements i·n … (i+1)·n-1.
   *
   * @param sendbuf - this rank's block of n elements, or {@link IN_PLACE} when it is already in place in
   *   `recvbuf`.
   * @param recvbuf - room for `size` blocks.
   * @throws {@link TsmpiError} (as a rejection, on every rank) `TSMPI_ERR_TYPE` when a buffer is not a typed array or the element types differ; `TSMPI_ERR_COUNT` when `recvbuf`
   *   is not `size` blocks of `sendbuf.length`; `TSMPI_ERR_TYPE` / `TSMPI_ERR_COUNT` when the ranks' buffers disagree in element type or length; `TSMPI_ERR_COMM` on a freed communicator or after finalize(); `TSMPI_ERR_COLL_MISMATCH` when the ranks called different collectives (or roots) here; `TSMPI_ERR_PEER_LOST` / `TSMPI_ERR_PEER_FINISHED`.
   */
  Allgather(sendbuf: TypedArray | InPlace, recvbuf: TypedArray): Promise<void> {
    return this.#collective('Allgather', -1, (ch, t) => coll.Allgather(ch, sendbuf, recvbuf, t));
  }
  /**
   * Every rank sends a block to every rank (MPI_Alltoall): block j of `sendbuf` goes to rank j, and block
   * i of `recvbuf` comes from rank i; both hold `size` blocks of the same length.
   *
   * @param sendbuf - `size` blocks, or {@link IN_PLACE} to send from `recvbuf` (replaced by what arrives).
   * @param recvbuf - room for `size` blocks.
   * @throws {@link TsmpiError} (as a rejection, on every rank) `TSMPI_ERR_TYPE` when a buffer is not a typed array or the element types differ; `TSMPI_ERR_COUNT` when `recvbuf`
   *   is not `size` equal blocks or `sendbuf` has another length; `TSMPI_ERR_TYPE` / `TSMPI_ERR_COUNT` when the ranks' buffers disagree in element type or length; `TSMPI_ERR_COMM` on a freed communicator or after finalize(); `TSMPI_ERR_COLL_MISMATCH` when the ranks called different collectives (or roots) here; `TSMPI_ERR_PEER_LOST` / `TSMPI_ERR_PEER_FINISHED`.
   */
  Alltoall(sendbuf: TypedArray | InPlace, recvbuf: TypedArray): Promise<void> {
    return this.#collective('Alltoall', -1, (ch, t) => coll.Alltoall(ch, sendbuf, recvbuf, t));
  }
  /**
   * Combines every rank's typed array element by element with `op` into root's `recvbuf` (MPI_Reduce;
   * mpi4py's `Reduce`), in rank order. The other ranks' `recvbuf` is ignored (pass null). The send
   * buffers are not modified.
   *
   * @param sendbuf - this rank's operand, or {@link IN_PLACE} at the root to take root's operand from
   *   `recvbuf` (which then receives the result).
   * @param recvbuf - at the root, where the result lands: same element type and length as `sendbuf`.
   * @param op - the operation (default {@link SUM}); MAXLOC/MINLOC take interleaved [value, index] pairs.
   * @param root - the rank that gets the result (default 0).
   * @throws {@link TsmpiError} (as a rejection, on every rank) `TSMPI_ERR_ROOT`; `TSMPI_ERR_TYPE` when a buffer is not a typed array or the element types differ; `TSMPI_ERR_COUNT`
   *   when root's buffers differ in length; `TSMPI_ERR_OP` when `op` is not an {@link Op} or a function, or is not defined on the element type (bitwise ops on floats); `TSMPI_ERR_COUNT` for MAXLOC/MINLOC over an odd number of elements; `TSMPI_ERR_ARG` for IN_PLACE elsewhere than at
   *   the root; `TSMPI_ERR_TYPE` / `TSMPI_ERR_COUNT` when the ranks' buffers disagree in element type or length; `TSMPI_ERR_COMM` on a freed communicator or after finalize(); `TSMPI_ERR_COLL_MISMATCH` when the ranks called different collectives (or roots) here; `TSMPI_ERR_PEER_LOST` / `TSMPI_ERR_PEER_FINISHED`.
   *
   * @example
   * ```ts
   * const local = Float64Array.of(comm.rank, 1);
   * const sums = comm.rank === 0 ? new Float64Array(2) : null;
   * await comm.Reduce(local, sums, SUM, 0); // on rank 0: [0 + 1 + … + (size-1), size]
   * ```
   */
  Reduce(sendbuf: TypedArray | InPlace, recvbuf: TypedArray | null | undefined, op: OpLike = SUM, root = 0): Promise<void> {
    return this.#collective('Reduce', root, (ch, t) => coll.Reduce(ch, sendbuf, recvbuf, op, root, t));
  }
  /**
   * Combines every rank's typed array element by element with `op` and gives the result to every rank,
   * in `recvbuf` (MPI_Allreduce; mpi4py's `Allreduce`). The result is the same on every rank and does not
   * depend on timing.
   *
   * @param sendbuf - this rank's operand (same element type and length as `recvbuf`), or
   *   {@link IN_PLACE} to take it from `recvbuf`.
   * @param recvbuf - where the result lands.
   * @param op - the operation (default {@link SUM}).
   * @throws {@link TsmpiError} (as a rejection, on every rank) `TSMPI_ERR_TYPE` when a buffer is not a typed array or the element types differ; `TSMPI_ERR_COUNT` when the two
   *   buffers differ in length; `TSMPI_ERR_OP` when `op` is not an {@link Op} or a function, or is not defined on the element type (bitwise ops on floats); `TSMPI_ERR_COUNT` for MAXLOC/MINLOC over an odd number of elements; `TSMPI_ERR_TYPE` / `TSMPI_ERR_COUNT` when the ranks' buffers disagree in element type or length; `TSMPI_ERR_COMM` on a freed communicator or after finalize(); `TSMPI_ERR_COLL_MISMATCH` when the ranks called different collectives (or roots) here; `TSMPI_ERR_PEER_LOST` / `TSMPI_ERR_PEER_FINISHED`.
   *
   * @example
   * ```ts
   * const histogram = new Int32Array(10);
   * for (const x of myItems) histogram[Math.min(9, Math.floor(x * 10))]!++;
   * await comm.Allreduce(IN_PLACE, histogram, SUM); // every rank now holds the totals
   *
   * const extremes = new Float64Array(2);
   * await comm.Allreduce(Float64Array.of(Math.min(...myItems), -Math.max(...myItems)), extremes, MIN);
   * ```
   */
  Allreduce(sendbuf: TypedArray | InPlace, recvbuf: TypedArray, op: OpLike = SUM): Promise<void> {
    return this.#collective('Allreduce', -1, (ch, t) => coll.Allreduce(ch, sendbuf, recvbuf, op, t));
  }
  /**
   * Inclusive prefix reduction of typed arrays (MPI_Scan): rank i's `recvbuf` receives the element-wise
   * combination of the `sendbuf`s of ranks 0 … i.
   *
   * @param sendbuf - this rank's operand, or {@link IN_PLACE} to take it from `recvbuf`.
   * @param recvbuf - where the result lands (same element type and length).
   * @param op - the operation (default {@link SUM}).
   * @throws {@link TsmpiError} (as a rejection, on every rank) `TSMPI_ERR_TYPE` when a buffer is not a typed array or the element types differ; `TSMPI_ERR_COUNT` when the two
   *   buffers differ in length; `TSMPI_ERR_OP` when `op` is not an {@link Op} or a function, or is not defined on the element type (bitwise ops on floats); `TSMPI_ERR_COUNT` for MAXLOC/MINLOC over an odd number of elements; `TSMPI_ERR_COMM` on a freed communicator or after finalize(); `TSMPI_ERR_COLL_MISMATCH` when the ranks called different collectives (or roots) here; `TSMPI_ERR_PEER_LOST` / `TSMPI_ERR_PEER_FINISHED`.
   */
  Scan(sendbuf: TypedArray | InPlace, recvbuf: TypedArray, op: OpLike = SUM): Promise<void> {
    return this.#collective('Scan', -1, (ch, t) => coll.Scan(ch, sendbuf, recvbuf, op, t));
  }
  /**
   * Exclusive prefix reduction of typed arrays (MPI_Exscan): rank i's `recvbuf` receives the element-wise
   * combination of the `sendbuf`s of ranks 0 … i-1. Rank 0's `recvbuf` is left as it was (MPI leaves it
   * undefined; mpi4py's Exscan does not touch it).
   *
   * @param op - the operation (default {@link SUM}).
   * @throws {@link TsmpiError} as {@link Comm.Scan}.
   */
  Exscan(sendbuf: TypedArray | InPlace, recvbuf: TypedArray, op: OpLike = SUM): Promise<void> {
    return this.#collective('Exscan', -1, (ch, t) => coll.Exscan(ch, sendbuf, recvbuf, op, t));
  }
  /**
   * Reduces and scatters in equal blocks (MPI_Reduce_scatter_block): every rank's `sendbuf` holds `size`
   * blocks of `recvbuf.length` elements; rank i's `recvbuf` receives block i of their element-wise
   * combination. With {@link IN_PLACE} the input is `recvbuf` (`size` blocks) and the result lands in
   * its first block.
   *
   * @param op - the operation (default {@link SUM}).
   * @throws {@link TsmpiError} (as a rejection, on every rank) `TSMPI_ERR_TYPE` when a buffer is not a typed array or the element types differ; `TSMPI_ERR_COUNT` when the input is
   *   not `size` blocks; `TSMPI_ERR_OP` when `op` is not an {@link Op} or a function, or is not defined on the element type (bitwise ops on floats); `TSMPI_ERR_COUNT` for MAXLOC/MINLOC over an odd number of elements; `TSMPI_ERR_COMM` on a freed communicator or after finalize(); `TSMPI_ERR_COLL_MISMATCH` when the ranks called different collectives (or roots) here; `TSMPI_ERR_PEER_LOST` / `TSMPI_ERR_PEER_FINISHED`.
   */
  Reduce_scatter_block(sendbuf: TypedArray | InPlace, recvbuf: TypedArray, op: OpLike = SUM): Promise<void> {
    return this.#collective('Reduce_scatter_block', -1, (ch, t) => coll.Reduce_scatter_block(ch, sendbuf, recvbuf, op, t));
  }
  /**
   * Reduces and scatters in blocks of given sizes (MPI_Reduce_scatter): segment i of the element-wise
   * combination (recvcounts[i] elements, in rank order) goes to rank i's `recvbuf`. Without `recvcounts`,
   * each rank's count is its `recvbuf.length`, agreed by an allgather (as mpi4py does); with
   * {@link IN_PLACE} (input in `recvbuf`, result in its first recvcounts[rank] elements) `recvcounts` is
   * required.
   *
   * @param recvcounts - elements per rank (`size` non-negative integers adding up to the input's length).
   * @param op - the operation (default {@link SUM}).
   * @throws {@link TsmpiError} (as a rejection, on every rank) `TSMPI_ERR_TYPE` when a buffer is not a typed array or the element types differ; `TSMPI_ERR_COUNT` for counts that
   *   are missing (with IN_PLACE), not `size` non-negative integers, do not add up to the input's length,
   *   or exceed `recvbuf`; `TSMPI_ERR_OP` when `op` is not an {@link Op} or a function, or is not defined on the element type (bitwise ops on floats); `TSMPI_ERR_COUNT` for MAXLOC/MINLOC over an odd number of elements; `TSMPI_ERR_COMM` on a freed communicator or after finalize(); `TSMPI_ERR_COLL_MISMATCH` when the ranks called different collectives (or roots) here; `TSMPI_ERR_PEER_LOST` / `TSMPI_ERR_PEER_FINISHED`.
   */
  Reduce_scatter(sendbuf: TypedArray | InPlace, recvbuf: TypedArray, recvcounts?: ArrayLike<number>, op: OpLike = SUM): Promise<void> {
    return this.#collective('Reduce_scatter', -1, (ch, t) => coll.Reduce_scatter(ch, sendbuf, recvbuf, recvcounts, op, t));
  }
  /**
   * Hands out blocks of different sizes from root's buffer (MPI_Scatterv): rank i's `recvbuf` receives
   * counts[i] elements from displacement displs[i] (default: packed in rank order). The other ranks'
   * `sendspec` is ignored (pass null).
   *
   * @param sendspec - at the root, `[buf, counts, displs?]` ({@link VectorSpec}).
   * @param recvbuf - this rank's block; {@link IN_PLACE} at the root leaves its block where it is.
   * @param root - the rank whose buffer is scattered (default 0).
   * @throws {@link TsmpiError} (as a rejection, on every rank) `TSMPI_ERR_ROOT`; `TSMPI_ERR_TYPE` for a spec that is not `[buf, counts, displs?]` or a buffer that is not a typed array; `TSMPI_ERR_COUNT` for counts or displacements that are not `size` non-negative integers, or a block past the end of its buffer; `TSMPI_ERR_ARG` for
   *   IN_PLACE elsewhere than at the root; `TSMPI_ERR_TYPE` / `TSMPI_ERR_COUNT` when the ranks' buffers disagree in element type or length; `TSMPI_ERR_COMM` on a freed communicator or after finalize(); `TSMPI_ERR_COLL_MISMATCH` when the ranks called different collectives (or roots) here; `TSMPI_ERR_PEER_LOST` / `TSMPI_ERR_PEER_FINISHED`.
   *
   * @example
   * ```ts
   * const counts = Array.from({ length: comm.size }, (_, i) => i + 1); // rank i gets i + 1 elements
   * const mine = new Int32Array(comm.rank + 1);
   * const all = comm.rank === 0 ? new Int32Array(counts.reduce((a, b) => a + b)) : null;
   * await comm.Scatterv(all && [all, counts], mine, 0);
   * ```
   */
  Scatterv(sendspec: VectorSpec | null | undefined, recvbuf: TypedArray | InPlace, root = 0): Promise<void> {
    return this.#collective('Scatterv', root, (ch, t) => coll.Scatterv(ch, sendspec, recvbuf, root, t));
  }
  /**
   * Collects blocks of different sizes into root's buffer (MPI_Gatherv): rank i's `sendbuf` (counts[i]
   * elements) lands at displacement displs[i] (default: packed in rank order). The other ranks'
   * `recvspec` is ignored (pass null).
   *
   * @param sendbuf - this rank's block, or {@link IN_PLACE} at the root when its block is in place.
   * @param recvspec - at the root, `[buf, counts, displs?]` ({@link VectorSpec}).
   * @param root - the rank that receives (default 0).
   * @throws {@link TsmpiError} (as a rejection, on every rank) `TSMPI_ERR_ROOT`; `TSMPI_ERR_TYPE` for a spec that is not `[buf, counts, displs?]` or a buffer that is not a typed array; `TSMPI_ERR_COUNT` for counts or displacements that are not `size` non-negative integers, or a block past the end of its buffer; `TSMPI_ERR_ARG` for
   *   IN_PLACE elsewhere than at the root; `TSMPI_ERR_TYPE` / `TSMPI_ERR_COUNT` when the ranks' buffers disagree in element type or length; `TSMPI_ERR_COMM` on a freed communicator or after finalize(); `TSMPI_ERR_COLL_MISMATCH` when the ranks called different collectives (or roots) here; `TSMPI_ERR_PEER_LOST` / `TSMPI_ERR_PEER_FINISHED`.
   */
  Gatherv(sendbuf: TypedArray | InPlace, recvspec: VectorSpec | null | undefined, root = 0): Promise<void> {
    return this.#collective('Gatherv', root, (ch, t) => coll.Gatherv(ch, sendbuf, recvspec, root, t));
  }
  /**
   * Collects blocks of different sizes from every rank into every rank's buffer (MPI_Allgatherv): rank
   * i's `sendbuf` (counts[i] elements) lands at displacement displs[i] (default: packed in rank order).
   *
   * @param sendbuf - this rank's block, or {@link IN_PLACE} when it is already in place.
   * @param recvspec - `[buf, counts, displs?]` ({@link VectorSpec}), the same counts on every rank.
   * @throws {@link TsmpiError} (as a rejection, on every rank) `TSMPI_ERR_TYPE` for a spec that is not `[buf, counts, displs?]` or a buffer that is not a typed array; `TSMPI_ERR_COUNT` for counts or displacements that are not `size` non-negative integers, or a block past the end of its buffer; `TSMPI_ERR_TYPE` / `TSMPI_ERR_COUNT` when the ranks' buffers disagree in element type or length; `TSMPI_ERR_COMM` on a freed communicator or after finalize(); `TSMPI_ERR_COLL_MISMATCH` when the ranks called different collectives (or roots) here; `TSMPI_ERR_PEER_LOST` / `TSMPI_ERR_PEER_FINISHED`.
   */
  Allgatherv(sendbuf: TypedArray | InPlace, recvspec: VectorSpec): Promise<void> {
    return this.#collective('Allgatherv', -1, (ch, t) => coll.Allgatherv(ch, sendbuf, recvspec, t));
  }
  /**
   * Every rank sends a block of its own size to every rank (MPI_Alltoallv): the block for rank j is
   * send counts[j] elements at send displs[j]; the block from rank i lands at receive displs[i].
   *
   * @param sendspec - `[buf, counts, displs?]` ({@link VectorSpec}), or {@link IN_PLACE} to send from
   *   `recvspec`'s buffer (copied first).
   * @param recvspec - `[buf, counts, displs?]`.
   * @throws {@link TsmpiError} (as a rejection, on every rank) `TSMPI_ERR_TYPE` for a spec that is not `[buf, counts, displs?]` or a buffer that is not a typed array; `TSMPI_ERR_COUNT` for counts or displacements that are not `size` non-negative integers, or a block past the end of its buffer; `TSMPI_ERR_TYPE` when the two buffers'
   *   element types differ; `TSMPI_ERR_COUNT` when this rank's send and receive counts for itself differ;
   *   `TSMPI_ERR_TYPE` / `TSMPI_ERR_COUNT` when the ranks' buffers disagree in element type or length; `TSMPI_ERR_COMM` on a freed communicator or after finalize(); `TSMPI_ERR_COLL_MISMATCH` when the ranks called different collectives (or roots) here; `TSMPI_ERR_PEER_LOST` / `TSMPI_ERR_PEER_FINISHED`.
   */
  Alltoallv(sendspec: VectorSpec | InPlace, recvspec: VectorSpec): Promise<void> {
    return this.#collective('Alltoallv', -1, (ch, t) => coll.Alltoallv(ch, sendspec, recvspec, t));
  }

  /** @internal Element type name, for messages of subclasses. */
  protected static dtypeName(buf: TypedArray): string {
    return dtypeName(dtypeOf(buf));
  }
}
