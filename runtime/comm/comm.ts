// Comm: a group of ranks with a context of their own (API.md). Every public method validates its
// arguments at the call, before anything is sent, and then hands the work to the engine (point-to-
// point, on the communicator's context) or to coll/ (collectives, on the hidden collective context
// next to it, so the two never match each other).
import { ANY_SOURCE, ANY_TAG, IN_PLACE, PROC_NULL, TAG_UB, type InPlace } from '../constants.js';
import { tsmpiError } from '../errors.js';
import * as coll from '../coll/api.js';
import { MAX, MIN, SUM, type OpLike } from '../coll/ops.js';
import type { CartComm } from './cart.js';
import { CallChannel, type CommWire } from './call-channel.js';
import { ContextIds } from './context-ids.js';
import { CommObserver } from './observed.js';
import { checkSplitArgs, planSplit } from './split-plan.js';
import type { Engine, RankMap } from '../p2p/engine.js';
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

/** A typed buffer with per-rank element counts and optional displacements (v-variants). */
export type VectorSpec = coll.VectorSpec;

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
  /** What collective calls of this communicator send and receive on (CallChannel). */
  readonly #wire: CommWire;
  /** Collective calls in progress: free() lets them finish before the context is given up. */
  readonly #running = new Set<Promise<unknown>>();
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
    const inner = this.engine.recvObject(s, t, this.context, this.#ranks);
    return Request.mapped(inner, ([value]) => value as T, () => { inner.cancel(); return true; });
  }

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

  Send(buf: TypedArray, dest: number, tag = 0): Promise<void> {
    return rejecting(() => {
      const dtype = this.#typed(buf, 'Send'), d = this.#dest(dest), t = this.#sendTag(tag);
      return this.engine.sendTyped(buf, d, t, this.context, dtype, false).wait();
    });
  }

  Ssend(buf: TypedArray, dest: number, tag = 0): Promise<void> {
    return rejecting(() => {
      const dtype = this.#typed(buf, 'Ssend'), d = this.#dest(dest), t = this.#sendTag(tag);
      return this.engine.sendTyped(buf, d, t, this.context, dtype, true).wait();
    });
  }

  Isend(buf: TypedArray, dest: number, tag = 0): Request<Status> {
    const dtype = this.#typed(buf, 'Isend'), d = this.#dest(dest), t = this.#sendTag(tag);
    return this.#sent(this.engine.sendTyped(buf, d, t, this.context, dtype, false), dest, t, buf.length);
  }

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
      const sent = this.Send(sendbuf, dest, sendtag);
      return Promise.all([received.wait(), sent]).then(([status]) => status);
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
    return this.shared.abortJob(code);
  }

  /**
   * Marks this communicator unusable: later calls on it fail with TSMPI_ERR_COMM. Operations already
   * started on it (receives, sends, collectives) complete normally; its context is given up once they
   * have (MPI_Comm_free).
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
    if (this.#running.size === 0) void giveUp();
    else void Promise.allSettled([...this.#running]).then(giveUp);
  }

  /** A new communicator with the same members and a context of its own. */
  dup(): Promise<Comm> {
    return this.#collective('dup', -1, async (ch, tag) => {
      const { slot, collTagStart } = await this.#agreeContext(ch, tag, true);
      return new Comm({ shared: this.shared, context: slot * 2, members: this.members, collTagStart, name: `${this.#name}.dup` });
    });
  }

  /** Ranks giving the same colour form a new communicator, ordered by key then rank; UNDEFINED gives null. */
  split(color: number, key: number = this.rank): Promise<Comm | null> {
    return this.#collective('split', -1, async (ch, tag) => {
      const plan = await this.#planSplit(ch, tag, color, key);
      return plan && new Comm({ shared: this.shared, ...plan, name: `${this.#name}.split(${color})` });
    });
  }

  /** A Cartesian topology over the first prod(dims) ranks; the others get null. */
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
    checkSplitArgs(color, key);
    const entries = await coll.allgather<[number, number]>(ch, [color, key], tag);
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
      set.add(active);
      const label = callLabel(name, root);
      const call = this.#observer
        ? this.#observer.collective(name, root, tag, this.#wire, label, run)
        : run(new CallChannel(this.#wire, label), tag);
      this.#running.add(call);
      return call.finally(() => {
        set.delete(active);
        this.#running.delete(call);
      });
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Collectives, objects

  barrier(): Promise<void> { return this.#collective('barrier', -1, (ch, t) => coll.barrier(ch, t)); }
  bcast<T>(obj: T, root = 0): Promise<T> { return this.#collective('bcast', root, (ch, t) => coll.bcast<T>(ch, obj, root, t)); }
  scatter<T>(objs: readonly T[] | undefined, root = 0): Promise<T> { return this.#collective('scatter', root, (ch, t) => coll.scatter<T>(ch, objs, root, t)); }
  gather<T>(obj: T, root = 0): Promise<T[] | undefined> { return this.#collective('gather', root, (ch, t) => coll.gather<T>(ch, obj, root, t)); }
  allgather<T>(obj: T): Promise<T[]> { return this.#collective('allgather', -1, (ch, t) => coll.allgather<T>(ch, obj, t)); }
  alltoall<T>(objs: readonly T[]): Promise<T[]> { return this.#collective('alltoall', -1, (ch, t) => coll.alltoall<T>(ch, objs, t)); }
  reduce<T>(obj: T, op: OpLike = SUM, root = 0): Promise<T | undefined> { return this.#collective('reduce', root, (ch, t) => coll.reduce<T>(ch, obj, op, root, t)); }
  allreduce<T>(obj: T, op: OpLike = SUM): Promise<T> { return this.#collective('allreduce', -1, (ch, t) => coll.allreduce<T>(ch, obj, op, t)); }
  scan<T>(obj: T, op: OpLike = SUM): Promise<T> { return this.#collective('scan', -1, (ch, t) => coll.scan<T>(ch, obj, op, t)); }
  exscan<T>(obj: T, op: OpLike = SUM): Promise<T | undefined> { return this.#collective('exscan', -1, (ch, t) => coll.exscan<T>(ch, obj, op, t)); }

  // ---------------------------------------------------------------------------------------------
  // Collectives, typed arrays

  Barrier(): Promise<void> { return this.#collective('Barrier', -1, (ch, t) => coll.Barrier(ch, t)); }
  Bcast(buf: TypedArray, root = 0): Promise<void> { return this.#collective('Bcast', root, (ch, t) => coll.Bcast(ch, buf, root, t)); }
  Scatter(sendbuf: TypedArray | null | undefined, recvbuf: TypedArray | InPlace, root = 0): Promise<void> {
    return this.#collective('Scatter', root, (ch, t) => coll.Scatter(ch, sendbuf, recvbuf, root, t));
  }
  Gather(sendbuf: TypedArray | InPlace, recvbuf: TypedArray | null | undefined, root = 0): Promise<void> {
    return this.#collective('Gather', root, (ch, t) => coll.Gather(ch, sendbuf, recvbuf, root, t));
  }
  Allgather(sendbuf: TypedArray | InPlace, recvbuf: TypedArray): Promise<void> {
    return this.#collective('Allgather', -1, (ch, t) => coll.Allgather(ch, sendbuf, recvbuf, t));
  }
  Alltoall(sendbuf: TypedArray | InPlace, recvbuf: TypedArray): Promise<void> {
    return this.#collective('Alltoall', -1, (ch, t) => coll.Alltoall(ch, sendbuf, recvbuf, t));
  }
  Reduce(sendbuf: TypedArray | InPlace, recvbuf: TypedArray | null | undefined, op: OpLike = SUM, root = 0): Promise<void> {
    return this.#collective('Reduce', root, (ch, t) => coll.Reduce(ch, sendbuf, recvbuf, op, root, t));
  }
  Allreduce(sendbuf: TypedArray | InPlace, recvbuf: TypedArray, op: OpLike = SUM): Promise<void> {
    return this.#collective('Allreduce', -1, (ch, t) => coll.Allreduce(ch, sendbuf, recvbuf, op, t));
  }
  Scan(sendbuf: TypedArray | InPlace, recvbuf: TypedArray, op: OpLike = SUM): Promise<void> {
    return this.#collective('Scan', -1, (ch, t) => coll.Scan(ch, sendbuf, recvbuf, op, t));
  }
  Exscan(sendbuf: TypedArray | InPlace, recvbuf: TypedArray, op: OpLike = SUM): Promise<void> {
    return this.#collective('Exscan', -1, (ch, t) => coll.Exscan(ch, sendbuf, recvbuf, op, t));
  }
  Reduce_scatter_block(sendbuf: TypedArray | InPlace, recvbuf: TypedArray, op: OpLike = SUM): Promise<void> {
    return this.#collective('Reduce_scatter_block', -1, (ch, t) => coll.Reduce_scatter_block(ch, sendbuf, recvbuf, op, t));
  }
  Reduce_scatter(sendbuf: TypedArray | InPlace, recvbuf: TypedArray, recvcounts?: ArrayLike<number>, op: OpLike = SUM): Promise<void> {
    return this.#collective('Reduce_scatter', -1, (ch, t) => coll.Reduce_scatter(ch, sendbuf, recvbuf, recvcounts, op, t));
  }
  Scatterv(sendspec: VectorSpec | null | undefined, recvbuf: TypedArray | InPlace, root = 0): Promise<void> {
    return this.#collective('Scatterv', root, (ch, t) => coll.Scatterv(ch, sendspec, recvbuf, root, t));
  }
  Gatherv(sendbuf: TypedArray | InPlace, recvspec: VectorSpec | null | undefined, root = 0): Promise<void> {
    return this.#collective('Gatherv', root, (ch, t) => coll.Gatherv(ch, sendbuf, recvspec, root, t));
  }
  Allgatherv(sendbuf: TypedArray | InPlace, recvspec: VectorSpec): Promise<void> {
    return this.#collective('Allgatherv', -1, (ch, t) => coll.Allgatherv(ch, sendbuf, recvspec, t));
  }
  Alltoallv(sendspec: VectorSpec | InPlace, recvspec: VectorSpec): Promise<void> {
    return this.#collective('Alltoallv', -1, (ch, t) => coll.Alltoallv(ch, sendspec, recvspec, t));
  }

  /** @internal Element type name, for messages of subclasses. */
  protected static dtypeName(buf: TypedArray): string {
    return dtypeName(dtypeOf(buf));
  }
}
