// Future, asCompleted and wait of tsmpi/futures: concurrent.futures' names over promises. A Future
// is settled by the executor (resolveFuture, rejectFuture, cancelFuture below); users await it, and
// may cancel it until its task has been sent to a worker.
import { tsmpiError } from '../errors.js';

type State = 'pending' | 'sent' | 'fulfilled' | 'rejected' | 'cancelled';

const ignore = () => {};

// The executor's side of a Future, bound to its private fields in the class's static block.
let settle: (future: Future<unknown>, state: 'fulfilled' | 'rejected' | 'cancelled', outcome: unknown) => void;
let stateOf: (future: Future<unknown>) => State;
let listen: (future: Future<unknown>, listener: () => void) => () => void;
let create: <T>(cancel: () => boolean) => Future<T>;
let sent: (future: Future<unknown>) => void;

/**
 * The eventual result of one task call made by `Executor.submit`: await it (it is `PromiseLike`), or
 * pass it to {@link asCompleted} and {@link wait}.
 *
 * It fulfils with what the task returned (awaited, if the task returned a promise), or rejects with
 * what the task threw (see "Errors" in docs/futures.md: class, message, own properties, `rank`, `task`
 * and the worker's stack in `cause`). A Future never causes an unhandled rejection by itself: only
 * a `then` or `await` of yours surfaces its error.
 */
export class Future<T> implements PromiseLike<T> {
  readonly #promise: Promise<T>;
  #resolve!: (value: T) => void;
  #reject!: (error: unknown) => void;
  #state: State = 'pending';
  #cancel: () => boolean;
  #listeners: (() => void)[] | undefined;

  private constructor(cancel: () => boolean) {
    this.#cancel = cancel;
    this.#promise = new Promise<T>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.#promise.catch(ignore);
  }

  static {
    create = <T>(cancel: () => boolean) => new Future<T>(cancel);
    stateOf = (future) => future.#state;
    sent = (future) => {
      if (future.#state === 'pending') future.#state = 'sent';
    };
    settle = (future, state, outcome) => {
      if (future.#state !== 'pending' && future.#state !== 'sent') return;
      future.#state = state;
      if (state === 'fulfilled') future.#resolve(outcome as never);
      else future.#reject(outcome);
      const listeners = future.#listeners;
      future.#listeners = undefined;
      if (listeners) for (const listener of listeners) listener();
    };
    listen = (future, listener) => {
      (future.#listeners ??= []).push(listener);
      return () => {
        const i = future.#listeners?.indexOf(listener) ?? -1;
        if (i >= 0) future.#listeners!.splice(i, 1);
      };
    };
  }

  /** As a promise's `then`: called with the task's value, or with its error (or the cancellation). */
  then<A = T, B = never>(
    onfulfilled?: ((value: T) => A | PromiseLike<A>) | null,
    onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return this.#promise.then(onfulfilled, onrejected);
  }

  /**
   * Cancels the call if its task has not been sent to a worker yet: the future then rejects with a
   * TsmpiError `TSMPI_ERR_CANCELLED`. Returns whether the future is cancelled (true again for one
   * cancelled before); false once the call is running or done.
   */
  cancel(): boolean {
    if (this.#state === 'cancelled') return true;
    if (this.#state !== 'pending' || !this.#cancel()) return false;
    settle(this as Future<unknown>, 'cancelled', tsmpiError('TSMPI_ERR_CANCELLED', 'the task was cancelled before it was sent to a worker'));
    return true;
  }

  /** Whether the future was cancelled. */
  cancelled(): boolean {
    return this.#state === 'cancelled';
  }

  /** Whether the future is settled: fulfilled, rejected or cancelled. */
  done(): boolean {
    return this.#state === 'fulfilled' || this.#state === 'rejected' || this.#state === 'cancelled';
  }
}

/** @internal A pending future; `cancel` removes its call from the queue, returning false when it was sent. */
export function newFuture<T>(cancel: () => boolean): Future<T> {
  return create<T>(cancel);
}

/** @internal The call went to a worker: cancel() no longer works. */
export function markSent(future: Future<unknown>): void {
  sent(future);
}

export function resolveFuture<T>(future: Future<T>, value: T): void {
  settle(future as Future<unknown>, 'fulfilled', value);
}

export function rejectFuture(future: Future<unknown>, error: unknown): void {
  settle(future, 'rejected', error);
}

/** Cancels a future whose call was dropped by the executor (shutdown with cancelFutures, the end of withExecutor). */
export function cancelFuture(future: Future<unknown>, error: unknown): void {
  settle(future, 'cancelled', error);
}

// -------------------------------------------------------------------------------------------------
// asCompleted and wait

/** Options of {@link asCompleted}. */
export interface AsCompletedOptions {
  /**
   * Milliseconds from the call: when the iterator must wait for the next future past this time, it
   * rejects with a TsmpiError `TSMPI_ERR_TIMEOUT`. Default: no limit.
   */
  timeout?: number;
}

/** What {@link wait} waits for. */
export type ReturnWhen = 'FIRST_COMPLETED' | 'FIRST_EXCEPTION' | 'ALL_COMPLETED';

/** Options of {@link wait}. */
export interface WaitOptions {
  /** Milliseconds from the call after which `wait` resolves with what is done by then. Default: no limit. */
  timeout?: number;
  /**
   * `'ALL_COMPLETED'` (default): when every future is done. `'FIRST_COMPLETED'`: when any is.
   * `'FIRST_EXCEPTION'`: when any rejects (a cancelled future does not count), else when all are done.
   */
  returnWhen?: ReturnWhen;
}

/** What {@link wait} resolves to: the futures done and not done when it returned. */
export interface WaitResult<T> {
  /** The futures settled (fulfilled, rejected or cancelled) when wait returned. */
  done: Set<Future<T>>;
  /** The others. */
  notDone: Set<Future<T>>;
}

/** @internal Checks a timeout option; returns the deadline (performance.now() ms) or undefined. */
export function deadlineOf(timeout: unknown, call: string): number | undefined {
  if (timeout === undefined) return undefined;
  if (typeof timeout !== 'number' || !(timeout >= 0)) {
    throw tsmpiError('TSMPI_ERR_ARG', `${call}: timeout must be a number of milliseconds ≥ 0, got ${String(timeout)}`);
  }
  return performance.now() + timeout;
}

function uniqueFutures<T>(futures: Iterable<Future<T>>, call: string): Future<T>[] {
  const unique = [...new Set(futures)];
  for (const f of unique) {
    if (!(f instanceof Future)) throw tsmpiError('TSMPI_ERR_ARG', `${call} takes Futures (from Executor.submit), got ${f === null ? 'null' : typeof f}`);
  }
  return unique;
}

/**
 * The futures, each once, in the order they settle: those already done first, then each as it
 * fulfils, rejects or is cancelled. Iterating does not await the futures: `await` each yielded
 * future to get its value or error.
 *
 * @throws TsmpiError `TSMPI_ERR_ARG` (at the call) for something that is not a Future or a bad timeout;
 *   the iterator rejects with `TSMPI_ERR_TIMEOUT` when it waits past `timeout`.
 *
 * @example
 * ```ts
 * const fs = params.map((p) => ex.submit(simulate, p));
 * for await (const f of asCompleted(fs)) {
 *   try { console.log(await f); } catch (e) { failures.push(e); }
 * }
 * ```
 */
export function asCompleted<T>(futures: Iterable<Future<T>>, options: AsCompletedOptions = {}): AsyncIterableIterator<Future<T>> {
  const all = uniqueFutures(futures, 'asCompleted');
  const deadline = deadlineOf(options.timeout, 'asCompleted');
  const ready: Future<T>[] = all.filter((f) => f.done());
  let left = all.length;
  let wake: (() => void) | undefined;
  const unlisten = all.filter((f) => !f.done()).map((f) => listen(f as Future<unknown>, () => {
    ready.push(f);
    wake?.();
  }));
  let finished = false;
  const finish = () => {
    finished = true;
    for (const stop of unlisten) stop();
  };
  const iterator: AsyncIterableIterator<Future<T>> = {
    [Symbol.asyncIterator]() {
      return iterator;
    },
    async next(): Promise<IteratorResult<Future<T>>> {
      for (;;) {
        if (finished) return { done: true, value: undefined };
        const f = ready.shift();
        if (f) {
          left--;
          return { done: false, value: f };
        }
        if (left === 0) {
          finish();
          return { done: true, value: undefined };
        }
        const remaining = deadline === undefined ? Infinity : deadline - performance.now();
        if (remaining <= 0) {
          finish();
          throw tsmpiError('TSMPI_ERR_TIMEOUT', `asCompleted: ${left} of ${all.length} futures not done within ${options.timeout} ms`);
        }
        await new Promise<void>((resolve) => {
          const timer = remaining === Infinity ? undefined : setTimeout(resolve, remaining);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
      }
    },
    async return(): Promise<IteratorResult<Future<T>>> {
      finish();
      return { done: true, value: undefined };
    },
  };
  return iterator;
}

/** Whether `f` was rejected by its task (cancelled does not count). */
function failed(f: Future<unknown>): boolean {
  return stateOf(f) === 'rejected';
}

/**
 * Waits for the futures as `returnWhen` says (default `'ALL_COMPLETED'`), or until `timeout`
 * milliseconds have passed, and resolves with the sets of those done and not done. Never rejects
 * because of a future's error.
 *
 * @throws TsmpiError `TSMPI_ERR_ARG` (at the call) for something that is not a Future, a bad
 *   timeout or returnWhen.
 *
 * @example
 * ```ts
 * const { done, notDone } = await wait(fs, { returnWhen: 'FIRST_EXCEPTION', timeout: 60_000 });
 * ```
 */
export function wait<T>(futures: Iterable<Future<T>>, options: WaitOptions = {}): Promise<WaitResult<T>> {
  const all = uniqueFutures(futures, 'wait');
  const deadline = deadlineOf(options.timeout, 'wait');
  const returnWhen = options.returnWhen ?? 'ALL_COMPLETED';
  if (!['FIRST_COMPLETED', 'FIRST_EXCEPTION', 'ALL_COMPLETED'].includes(returnWhen)) {
    throw tsmpiError('TSMPI_ERR_ARG', `wait: returnWhen must be 'FIRST_COMPLETED', 'FIRST_EXCEPTION' or 'ALL_COMPLETED', got ${String(returnWhen)}`);
  }
  const result = (): WaitResult<T> => {
    const done = new Set<Future<T>>(), notDone = new Set<Future<T>>();
    for (const f of all) (f.done() ? done : notDone).add(f);
    return { done, notDone };
  };
  const satisfied = (): boolean => {
    if (all.every((f) => f.done())) return true;
    if (returnWhen === 'FIRST_COMPLETED') return all.some((f) => f.done());
    if (returnWhen === 'FIRST_EXCEPTION') return all.some((f) => failed(f as Future<unknown>));
    return false;
  };
  if (satisfied()) return Promise.resolve(result());
  return new Promise((resolve) => {
    const unlisten: (() => void)[] = [];
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      clearTimeout(timer);
      for (const stop of unlisten) stop();
      resolve(result());
    };
    const timer = deadline === undefined ? undefined : setTimeout(end, deadline - performance.now());
    for (const f of all) {
      if (!f.done()) unlisten.push(listen(f as Future<unknown>, () => { if (satisfied()) end(); }));
    }
  });
}
