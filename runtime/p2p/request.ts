// Request<T>: a handle on one non-blocking operation (API.md). It is PromiseLike, so `await req`
// works, but no Promise is made until someone waits: a request completed before anyone looks costs
// no promise at all. Internal completion goes through symbol-keyed methods so users cannot call it.
//
// A pending request keeps the process alive only while the program waits for it: a program whose
// code is done ends even with sends nobody received or receives nothing matched (API.md: unreceived
// messages at exit are not an error); the rank's finalize then serves its peers until all are done.
//
// An error that fails a pending request is made where the runtime learns of it (a frame that does not
// fit, a peer that is gone), far from the program's call. The promise the program awaits re-roots its
// stack at the program's own frames (V8's async stack traces follow the await chain from the handler
// that rethrows it), so `TSMPI_ERR_TRUNCATE` from an awaited Recv points at the line of that Recv.
import { UNDEFINED } from '../constants.js';
import { TsmpiError } from '../errors.js';
import { holdLoop, releaseLoop } from './liveness.js';

/** @internal Completes a request with its value (the engine's side). */
export const settleRequest = Symbol('tsmpi.settleRequest');
/** @internal Fails a request with an error (the engine's side). */
export const failRequest = Symbol('tsmpi.failRequest');
/** @internal True once the program waits for the request (await, wait, then): a hang report counts it as blocking. */
export const isAwaited = Symbol('tsmpi.isAwaited');
/** @internal Resolves (never rejects) once the request completes, without counting as the program waiting for it. */
export const whenSettled = Symbol('tsmpi.whenSettled');
/** @internal Keeps the process alive while the request is pending, as a wait does (for runtime-made waits such as probes). */
export const keepAlive = Symbol('tsmpi.keepAlive');
/** @internal Calls back once the request completes (at once if it has), as the engine completes it: no promise, no tick. */
export const onSettled = Symbol('tsmpi.onSettled');
/** @internal The promise wait() has handed out, if it has (no side effect, unlike wait()). */
export const waitPromise = Symbol('tsmpi.waitPromise');

/**
 * @internal What moves bytes for requests while the program waits, where nothing else does: the
 * shared-memory channels of a rank thread (transport/shm-channel.ts). Set by the engine of such a rank.
 */
export interface Progress {
  /** The program waits: move bytes until `waiting.done` or for a bounded time. */
  spin(waiting: { readonly done: boolean }): void;
  /** Moves whatever can move now, once. */
  progress(): boolean;
}

let progressHook: Progress | undefined;

/** @internal The engine of a rank thread installs its shared-memory progress here. */
export function setProgress(progress: Progress | undefined): void {
  progressHook = progress;
}

/** The value a request resolves with: `RequestValue<Request<Status>>` is `Status`. */
export type RequestValue<R> = R extends Request<infer T> ? T : never;

/**
 * Rethrows a runtime error with its stack re-rooted at the awaiting program's frames. Runs as the
 * rejection handler of a pending request's promise; its own frame is dropped, and an error whose
 * awaiting chain V8 cannot follow (the program used callbacks) keeps the stack it had.
 */
function atCallSite(error: unknown): never {
  if (error instanceof TsmpiError) {
    const here: { stack?: string } = {};
    Error.captureStackTrace(here);
    const frames = here.stack!.split('\n').slice(2);
    if (frames.length > 0) error.stack = `${error.name}: ${error.message}\n${frames.join('\n')}`;
  }
  throw error;
}

const PENDING = 0, FULFILLED = 1, REJECTED = 2;

/** Set while Request.completed constructs: a request born complete never holds the event loop. */
let bornComplete = false;

/** Between watchRequests() and madeRequest(): the request made last, of whatever value type. */
let watching = false;
let lastMade: Request<any> | undefined;

/**
 * @internal Starts noting the requests this thread makes. A recording rank's communicator
 * (comm/observed.ts) watches around a call whose promise may be a request's wait(), to end the call's
 * span when that request completes rather than through a reaction to the promise. Only then: a request
 * noted and never taken would keep its value (a received object) alive.
 */
export function watchRequests(): void {
  watching = true;
  lastMade = undefined;
}

/** @internal Stops noting requests; returns the last one made since watchRequests(). */
export function madeRequest(): Request<unknown> | undefined {
  const made = lastMade;
  watching = false;
  lastMade = undefined;
  return made;
}

/**
 * A handle on one non-blocking operation (`isend`, `irecv`, `Isend`, `Irecv`, `Issend`, …; MPI_Request).
 * It is `PromiseLike`: `await req` (or `req.wait()`) gives the operation's result, `T`: `void` for an
 * object send, the received value for `irecv`, a {@link Status} for the typed calls. A failed operation
 * rejects with its {@link TsmpiError}: a receive with `TSMPI_ERR_TRUNCATE` (message longer than the
 * buffer), `TSMPI_ERR_TYPE` (other element type, or an object message for a typed receive),
 * `TSMPI_ERR_PEER_LOST` or `TSMPI_ERR_PEER_FINISHED` (the peer failed or finished without sending);
 * a send with `TSMPI_ERR_PEER_LOST` or `TSMPI_ERR_PEER_FINISHED`.
 *
 * The static methods wait for or test many requests at once, as MPI's Waitall/Waitany/… do. A request
 * whose result a wait or test has handed out becomes inactive: `waitany`, `waitsome`, `testany` and
 * `testsome` skip it. Requests are made by the runtime only.
 *
 * @example
 * ```ts
 * import { COMM_WORLD as comm, Request } from 'tsmpi';
 *
 * const right = (comm.rank + 1) % comm.size, left = (comm.rank + comm.size - 1) % comm.size;
 * const fromLeft = new Float64Array(4);
 * const [status] = await Request.waitall([
 *   comm.Irecv(fromLeft, left),
 *   comm.Isend(Float64Array.of(1, 2, 3, comm.rank), right),
 * ]);
 * console.log(`got ${status.count} numbers from rank ${status.source}`);
 * ```
 */
export class Request<T = void> implements PromiseLike<T> {
  #state = PENDING;
  #value: T | undefined;
  #error: unknown;
  #promise: Promise<T> | undefined;
  #resolve: ((v: T) => void) | undefined;
  #reject: ((e: unknown) => void) | undefined;
  /** Set once a wait/test has handed out the result: waitany and friends skip inactive requests. */
  #inactive = false;
  #cancel: (() => boolean) | undefined;
  #awaited = false;
  /** Holds the event loop (liveness.ts) while pending and waited for. */
  #holding = false;
  /** Called once it completes, with whether it failed. */
  #observers: ((failed: boolean) => void)[] | undefined;
  /** The request this one is computed from (mapped()): the program waiting for this one waits for it. */
  #source: Request<any> | undefined;

  /** @internal Made by the runtime only. `cancel` tries to withdraw a receive that has not matched. */
  constructor(cancel?: () => boolean) {
    this.#cancel = cancel;
    if (bornComplete) this.#state = FULFILLED;
    if (watching) lastMade = this;
  }

  /** @internal A request already complete (an eager send): no loop hold to take and release. */
  static completed<T>(value: T): Request<T> {
    bornComplete = true;
    try {
      const r = new Request<T>();
      r.#value = value;
      return r;
    } finally {
      bornComplete = false;
    }
  }

  /** @internal */
  [settleRequest](value: T): void {
    if (this.#state !== PENDING) return;
    this.#state = FULFILLED;
    this.#value = value;
    this.#completed();
    this.#resolve?.(value);
  }

  /** @internal */
  [failRequest](error: unknown): void {
    if (this.#state !== PENDING) return;
    this.#state = REJECTED;
    this.#error = error;
    this.#completed();
    this.#reject?.(error);
  }

  #completed(): void {
    this.#cancel = undefined;
    if (this.#holding) {
      this.#holding = false;
      releaseLoop();
    }
    const observers = this.#observers;
    if (observers) {
      this.#observers = undefined;
      const failed = this.#state === REJECTED;
      for (const wake of observers) wake(failed);
    }
  }

  #markAwaited(): void {
    this.#awaited = true;
    if (this.#source) this.#source.#awaited = true;
  }

  /** @internal A request that completes with `source`'s outcome, mapped (engine value → user value). */
  static mapped<U, T>(source: Request<U>, map: (value: U) => T, cancel?: () => boolean): Request<T> {
    if (source.#state === FULFILLED) {
      try {
        return Request.completed(map(source.#value as U));
      } catch (e) {
        const r = new Request<T>();
        r[failRequest](e);
        return r;
      }
    }
    const out = new Request<T>(cancel);
    out.#source = source;
    if (source.#state === REJECTED) {
      out[failRequest](source.#error);
      return out;
    }
    (source.#observers ??= []).push(() => {
      if (source.#state === REJECTED) return out[failRequest](source.#error);
      try {
        out[settleRequest](map(source.#value as U));
      } catch (e) {
        out[failRequest](e);
      }
    });
    return out;
  }

  #hold(): void {
    if (!this.#holding && this.#state === PENDING) {
      this.#holding = true;
      holdLoop();
    }
  }

  /** @internal */
  get [isAwaited](): boolean {
    return this.#awaited;
  }

  /** @internal */
  [whenSettled](): Promise<void> {
    if (this.#state !== PENDING) return Promise.resolve();
    return new Promise((resolve) => (this.#observers ??= []).push(() => resolve()));
  }

  /** @internal */
  [onSettled](observer: (failed: boolean) => void): void {
    if (this.#state !== PENDING) observer(this.#state === REJECTED);
    else (this.#observers ??= []).push(observer);
  }

  /** @internal */
  get [waitPromise](): Promise<T> | undefined {
    return this.#promise;
  }

  /** @internal */
  [keepAlive](): void {
    this.#hold();
  }

  /** Whether the operation has completed (successfully or not). Looking does not make it inactive. */
  get done(): boolean {
    return this.#state !== PENDING;
  }

  /**
   * Resolves with the result once the operation completes (rejects with its TsmpiError); the same
   * promise each time. The request becomes inactive.
   */
  wait(): Promise<T> {
    this.#inactive = true;
    this.#markAwaited();
    if (!this.#promise) {
      if (this.#state === PENDING && progressHook) progressHook.spin(this);
      if (this.#state === FULFILLED) this.#promise = Promise.resolve(this.#value as T);
      else if (this.#state === REJECTED) this.#promise = Promise.reject(this.#error);
      else this.#promise = this.#pendingPromise().then(undefined, atCallSite);
    }
    this.#hold();
    return this.#promise;
  }

  #pendingPromise(): Promise<T> {
    return new Promise<T>((resolve, reject) => { this.#resolve = resolve; this.#reject = reject; });
  }

  /** As a promise's `then`, on {@link Request.wait}'s promise: what makes `await req` work. */
  then<R1 = T, R2 = never>(
    onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.wait().then(onfulfilled, onrejected);
  }

  /**
   * Non-blocking completion check (MPI_Test): `{ done: false }` while the operation is pending, else
   * `{ done: true, value }` and the request becomes inactive.
   *
   * @throws the operation's {@link TsmpiError} if it failed.
   */
  test(): {
    /** Whether the operation has completed. */
    done: boolean;
    /** Its result, once done. */
    value?: T;
  } {
    if (this.#state === PENDING && progressHook) progressHook.progress();
    if (this.#state === PENDING) return { done: false };
    this.#inactive = true;
    if (this.#state === REJECTED) throw this.#error;
    return { done: true, value: this.#value as T };
  }

  /**
   * Withdraws a receive that has not matched a message yet (MPI_Cancel): it then completes at once, an
   * `Irecv` with a {@link Status} whose `cancelled` is true, an `irecv` with `undefined`. Does nothing
   * to a send, or to a receive that has already matched.
   */
  cancel(): void {
    this.#cancel?.();
  }

  /**
   * Waits for every request (MPI_Waitall); resolves with their values in order (a tuple keeps each
   * request's type). Rejects with the error of the first request that fails.
   *
   * @example
   * ```ts
   * // A rank may send to itself; the tuple keeps each type: [string, void].
   * const [greeting] = await Request.waitall([comm.irecv<string>(comm.rank), comm.isend('hi', comm.rank)]);
   * ```
   */
  static waitall<const R extends readonly Request<any>[]>(requests: R): Promise<{ -readonly [K in keyof R]: RequestValue<R[K]> }> {
    return Promise.all(requests.map((r) => r.wait())) as Promise<{ -readonly [K in keyof R]: RequestValue<R[K]> }>;
  }

  /**
   * Waits for any active request to complete (MPI_Waitany) and makes it inactive. Rejects with that
   * request's error if it failed.
   */
  static async waitany<R extends Request<any>>(requests: readonly R[]): Promise<{
    /** Which request completed; {@link UNDEFINED} once none is active. */
    index: number;
    /** Its result (undefined when `index` is UNDEFINED). */
    value: RequestValue<R> | undefined;
  }> {
    const active: number[] = [];
    for (let i = 0; i < requests.length; i++) {
      const r = requests[i]!;
      if (r.#inactive) continue;
      if (r.#state !== PENDING) return { index: i, value: await r.wait() };
      active.push(i);
    }
    if (active.length === 0) return { index: UNDEFINED, value: undefined };
    const index = await Promise.race(active.map((i) => {
      const r = requests[i]!;
      return new Promise<number>((resolve) => {
        const done = () => resolve(i);
        r.#waitSettled(done);
      });
    }));
    return { index, value: await requests[index]!.wait() };
  }

  /**
   * Waits until at least one active request completes (MPI_Waitsome); resolves with all that have, in
   * index order, and makes them inactive. Empty lists once none is active.
   */
  static async waitsome<R extends Request<any>>(requests: readonly R[]): Promise<{
    /** Indices of the completed requests, ascending. */
    indices: number[];
    /** Their results, in the same order. */
    values: RequestValue<R>[];
  }> {
    type T = RequestValue<R>;
    const first = await Request.waitany(requests);
    if (first.index === UNDEFINED) return { indices: [], values: [] };
    const indices = [first.index];
    const values = [first.value as T];
    for (let i = 0; i < requests.length; i++) {
      const r = requests[i]!;
      if (i === first.index || r.#inactive || r.#state === PENDING) continue;
      indices.push(i);
      values.push(await r.wait());
    }
    const order = indices.map((_, k) => k).sort((a, b) => indices[a]! - indices[b]!);
    return { indices: order.map((k) => indices[k]!), values: order.map((k) => values[k]!) };
  }

  /**
   * All done? (MPI_Testall) Then their values (and they become inactive); otherwise `{ done: false }`
   * and nothing changes.
   *
   * @throws the error of a request that failed, once all are done.
   */
  static testall<const R extends readonly Request<any>[]>(requests: R): {
    /** Whether every request has completed. */
    done: boolean;
    /** Their results, in order, when done. */
    values?: { -readonly [K in keyof R]: RequestValue<R[K]> };
  } {
    if (requests.some((r) => r.#state === PENDING)) return { done: false };
    return { done: true, values: requests.map((r) => r.test().value) as { -readonly [K in keyof R]: RequestValue<R[K]> } };
  }

  /**
   * Non-blocking {@link Request.waitany} (MPI_Testany): the first active request that has completed, made
   * inactive; else `index` {@link UNDEFINED} with `done` false, or `done` true when no request is active.
   *
   * @throws the error of the completed request, if it failed.
   */
  static testany<R extends Request<any>>(requests: readonly R[]): {
    /** Which request completed, or {@link UNDEFINED}. */
    index: number;
    /** True when a request completed, or when none is active. */
    done: boolean;
    /** The completed request's result. */
    value?: RequestValue<R>;
  } {
    type T = RequestValue<R>;
    let anyActive = false;
    for (let i = 0; i < requests.length; i++) {
      const r = requests[i]!;
      if (r.#inactive) continue;
      anyActive = true;
      if (r.#state !== PENDING) return { index: i, done: true, value: r.test().value as T };
    }
    return { index: UNDEFINED, done: !anyActive };
  }

  /**
   * Non-blocking {@link Request.waitsome} (MPI_Testsome): every active request that has completed, in
   * index order, made inactive (empty lists when none has).
   *
   * @throws the error of a completed request that failed.
   */
  static testsome<R extends Request<any>>(requests: readonly R[]): {
    /** Indices of the completed requests, ascending. */
    indices: number[];
    /** Their results, in the same order. */
    values: RequestValue<R>[];
  } {
    type T = RequestValue<R>;
    const indices: number[] = [];
    const values: T[] = [];
    for (let i = 0; i < requests.length; i++) {
      const r = requests[i]!;
      if (r.#inactive || r.#state === PENDING) continue;
      indices.push(i);
      values.push(r.test().value as T);
    }
    return { indices, values };
  }

  #waitSettled(callback: () => void): void {
    this.#markAwaited();
    this.#hold();
    // Observe settlement without marking the request inactive (waitany decides which one it hands out).
    if (!this.#promise) {
      this.#promise = this.#pendingPromise().then(undefined, atCallSite);
      this.#promise.catch(() => {});
    }
    this.#promise.then(callback, callback);
  }
}
