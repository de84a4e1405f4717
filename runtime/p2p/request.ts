// Request<T>: a handle on one non-blocking operation (API.md). It is PromiseLike, so `await req`
// works, but no Promise is made until someone waits: a request completed before anyone looks costs
// no promise at all. Internal completion goes through symbol-keyed methods so users cannot call it.
import { UNDEFINED } from '../constants.js';
import { holdLoop, releaseLoop } from './liveness.js';

export const settleRequest = Symbol('tsmpi.settleRequest');
export const failRequest = Symbol('tsmpi.failRequest');
/** True once the program waits for the request (await, wait, then): a hang report counts it as blocking. */
export const isAwaited = Symbol('tsmpi.isAwaited');

const PENDING = 0, FULFILLED = 1, REJECTED = 2;

/** Set while Request.completed constructs: a request born complete never holds the event loop. */
let bornComplete = false;

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

  /** @internal Made by the runtime only. `cancel` tries to withdraw a receive that has not matched. */
  constructor(cancel?: () => boolean) {
    this.#cancel = cancel;
    if (bornComplete) this.#state = FULFILLED;
    else holdLoop();
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
    this.#cancel = undefined;
    releaseLoop();
    this.#resolve?.(value);
  }

  /** @internal */
  [failRequest](error: unknown): void {
    if (this.#state !== PENDING) return;
    this.#state = REJECTED;
    this.#error = error;
    this.#cancel = undefined;
    releaseLoop();
    this.#reject?.(error);
  }

  /** @internal */
  get [isAwaited](): boolean {
    return this.#awaited;
  }

  get done(): boolean {
    return this.#state !== PENDING;
  }

  /** Resolves with the result once the operation completes (rejects with its TsmpiError). */
  wait(): Promise<T> {
    this.#inactive = true;
    this.#awaited = true;
    if (!this.#promise) {
      if (this.#state === FULFILLED) this.#promise = Promise.resolve(this.#value as T);
      else if (this.#state === REJECTED) this.#promise = Promise.reject(this.#error);
      else this.#promise = new Promise<T>((resolve, reject) => { this.#resolve = resolve; this.#reject = reject; });
    }
    return this.#promise;
  }

  then<R1 = T, R2 = never>(
    onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.wait().then(onfulfilled, onrejected);
  }

  /** Non-blocking completion check; throws the operation's error if it failed. */
  test(): { done: boolean; value?: T } {
    if (this.#state === PENDING) return { done: false };
    this.#inactive = true;
    if (this.#state === REJECTED) throw this.#error;
    return { done: true, value: this.#value as T };
  }

  /** Withdraws a receive that has not matched yet; it then completes as cancelled. */
  cancel(): void {
    this.#cancel?.();
  }

  static waitall<T>(requests: readonly Request<T>[]): Promise<T[]> {
    return Promise.all(requests.map((r) => r.wait()));
  }

  /** Waits for any active request; `index` is UNDEFINED once none is active. */
  static async waitany<T>(requests: readonly Request<T>[]): Promise<{ index: number; value: T | undefined }> {
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

  /** Waits until at least one active request completes; returns all that have, in index order. */
  static async waitsome<T>(requests: readonly Request<T>[]): Promise<{ indices: number[]; values: T[] }> {
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

  /** All done? Then their values (and they become inactive); otherwise { done: false }. */
  static testall<T>(requests: readonly Request<T>[]): { done: boolean; values?: T[] } {
    if (requests.some((r) => r.#state === PENDING)) return { done: false };
    return { done: true, values: requests.map((r) => r.test().value as T) };
  }

  static testany<T>(requests: readonly Request<T>[]): { index: number; done: boolean; value?: T } {
    let anyActive = false;
    for (let i = 0; i < requests.length; i++) {
      const r = requests[i]!;
      if (r.#inactive) continue;
      anyActive = true;
      if (r.#state !== PENDING) return { index: i, done: true, value: r.test().value as T };
    }
    return { index: UNDEFINED, done: !anyActive };
  }

  static testsome<T>(requests: readonly Request<T>[]): { indices: number[]; values: T[] } {
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
    this.#awaited = true;
    // Observe settlement without marking the request inactive (waitany decides which one it hands out).
    if (!this.#promise) {
      this.#promise = new Promise<T>((resolve, reject) => { this.#resolve = resolve; this.#reject = reject; });
      this.#promise.catch(() => {});
    }
    this.#promise.then(callback, callback);
  }
}
