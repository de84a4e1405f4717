// Executor: what the body of withExecutor gets on root. submit makes a Future of one call; map,
// starmap and mapAll run a MapRun. Everything goes through the pool (pool.ts).
import { tsmpiError } from '../errors.js';
import { cancelFuture, markSent, newFuture, rejectFuture, resolveFuture, type Future } from './future.js';
import { MapRun, type Collector, type MapInput, type MapOptions, type TaskRef } from './map-run.js';
import { newChunk, type Chunk, type ChunkSink, type Pool } from './pool.js';
import { registeredTask, type TaskLike, type TaskTable } from './registry.js';

/** Options of {@link Executor.shutdown}. */
export interface ShutdownOptions {
  /** true (default): the returned promise resolves once every call already made has finished. */
  wait?: boolean;
  /**
   * true: calls not yet sent to a worker are dropped; their futures are cancelled and the maps
   * reject with a TsmpiError `TSMPI_ERR_CANCELLED` where they reach them. Default false.
   */
  cancelFutures?: boolean;
}

let makeExecutor: (pool: Pool, table: TaskTable) => Executor;
let endExecutor: (executor: Executor, bodyFailed: boolean) => Promise<void>;

/**
 * A pool of workers over a communicator, as the body of {@link withExecutor} gets it on root. The
 * other ranks of the communicator are its workers; on a communicator of one rank, tasks run in the
 * root's own process.
 *
 * Calls queue on root and go to the workers in chunks (several calls of one task in one message
 * each way), two chunks in flight per worker (more for a map of short calls); a worker runs one call at a time.
 */
export class Executor {
  /** How many workers run tasks: the communicator's size less one (1 on a communicator of one rank). */
  readonly numWorkers: number;
  readonly #pool: Pool;
  readonly #table: TaskTable;
  #shutdown = false;
  #ended = false;
  /**
   * The maps running. An array, not a Set: see pool.ts (WorkerSlot.chunks) for what a long-lived
   * Map or Set that takes and drops an entry per call costs. Calls of submit not yet sent are the
   * pool's queued chunks whose sink is a SubmitSink.
   */
  readonly #maps: MapRun<unknown>[] = [];

  private constructor(pool: Pool, table: TaskTable) {
    this.#pool = pool;
    this.#table = table;
    this.numWorkers = pool.numWorkers;
  }

  static {
    makeExecutor = (pool, table) => new Executor(pool, table);
    endExecutor = (executor, bodyFailed) => executor.#end(bodyFailed);
  }

  /** The task `t` stands for in this executor; throws TSMPI_ERR_TASK or TSMPI_ERR_SHUTDOWN. */
  #taskRef(t: unknown, call: string): TaskRef {
    if (this.#shutdown) {
      throw tsmpiError('TSMPI_ERR_SHUTDOWN', `${call}: the executor ${this.#ended ? 'has ended (its withExecutor body is over)' : 'was shut down'}`);
    }
    const entry = registeredTask(t);
    if (!entry) {
      const what = typeof t === 'function' ? `function ${t.name || '(anonymous)'}` : t === null ? 'null' : typeof t;
      throw tsmpiError('TSMPI_ERR_TASK', `${call}: ${what} is not a registered task; register it on every rank at top level with task(name, fn)`);
    }
    const index = this.#table.index.get(entry.name);
    if (index === undefined) {
      throw tsmpiError('TSMPI_ERR_TASK', `${call}: task '${entry.name}' was registered after the executor started; register tasks at top level, before withExecutor`);
    }
    return { index, name: entry.name };
  }

  /**
   * Schedules `task(...args)` on a worker and returns its {@link Future}.
   *
   * @throws TsmpiError `TSMPI_ERR_TASK` when `task` is not a task registered before the executor
   *   started; `TSMPI_ERR_SHUTDOWN` after {@link Executor.shutdown} or once the body is over. When the
   *   initializer failed, the future rejects with `TSMPI_ERR_BROKEN_EXECUTOR`; arguments that cannot be
   *   serialized reject it with `TSMPI_ERR_SERIALIZE`.
   *
   * @example
   * ```ts
   * const f = ex.submit(isPrime, 97);
   * console.log(await f); // true
   * ```
   */
  submit<A extends unknown[], R>(task: TaskLike<A, R>, ...args: A): Future<Awaited<R>> {
    const ref = this.#taskRef(task, 'submit');
    let chunk: Chunk | undefined;
    const future = newFuture<Awaited<R>>(() => chunk !== undefined && this.#pool.cancel(chunk));
    chunk = newChunk(ref.index, ref.name, 1, [args], 0, new SubmitSink(future as Future<unknown>));
    this.#pool.enqueue(chunk);
    return future;
  }

  #startMap<R>(task: unknown, spread: 0 | 1, items: unknown, options: MapOptions, call: string, collect?: Collector<R>): MapRun<R> {
    const ref = this.#taskRef(task, call);
    const maps = this.#maps;
    const run = new MapRun<R>(this.#pool, this.numWorkers, ref, spread, items, options ?? {}, call, (r) => {
      const at = maps.indexOf(r as MapRun<unknown>);
      if (at >= 0) maps.splice(at, 1);
    }, collect);
    // A map that ended at once (no items, a broken pool) has already left.
    if (!run.finished) maps.push(run as MapRun<unknown>);
    return run;
  }

  /**
   * `task(item)` for each item, as an async iterator of the results: in the order of the items
   * (`ordered`, the default) or as chunks finish. Items are read lazily, a chunk at a time, a bounded
   * number of chunks ahead of the consumer. A failed call ends the iteration: every result before it
   * is yielded, then the iterator rejects with the call's error. Leaving the loop early (`break`)
   * stops the map.
   *
   * @throws TsmpiError (at the call) `TSMPI_ERR_ARG` for bad options or items that are not iterable,
   *   `TSMPI_ERR_TASK`, `TSMPI_ERR_SHUTDOWN`; the iterator rejects with `TSMPI_ERR_TIMEOUT` past
   *   `timeout`, with the task's error, or with `TSMPI_ERR_SERIALIZE` for an item or result that cannot
   *   be sent.
   *
   * @example
   * ```ts
   * for await (const flag of ex.map(isPrime, numbers, { chunksize: 100, ordered: false })) count += flag ? 1 : 0;
   * ```
   */
  map<T, R>(task: TaskLike<[T], R>, items: MapInput<T>, options: MapOptions = {}): AsyncIterableIterator<Awaited<R>> {
    return this.#startMap<Awaited<R>>(task, 0, items, options, 'map');
  }

  /**
   * As {@link Executor.map}, with each item the list of arguments of its call: `task(...item)`.
   *
   * @example
   * ```ts
   * for await (const product of ex.starmap(mul, [[1, 2], [3, 4]])) console.log(product); // 2, 12
   * ```
   */
  starmap<A extends unknown[], R>(task: TaskLike<A, R>, items: MapInput<A>, options: MapOptions = {}): AsyncIterableIterator<Awaited<R>> {
    return this.#startMap<Awaited<R>>(task, 1, items, options, 'starmap');
  }

  /**
   * `task(item)` for each item; resolves to all the results, in the order of the items (as
   * {@link Executor.map} with `ordered: true`, collected). Rejects with the first failing call's error
   * (in item order) or with `TSMPI_ERR_TIMEOUT` when not all results are in within `timeout`.
   *
   * @throws (as a rejection) TsmpiError `TSMPI_ERR_ARG`, `TSMPI_ERR_TASK`, `TSMPI_ERR_SHUTDOWN` for a
   *   bad call; `TSMPI_ERR_SERIALIZE` for an item or result that cannot be sent;
   *   `TSMPI_ERR_BROKEN_EXECUTOR` when the initializer failed.
   *
   * @example
   * ```ts
   * const flags = await ex.mapAll(isPrime, numbers, { onProgress: ({ done, total }) => console.log(`${done}/${total}`) });
   * ```
   */
  mapAll<T, R>(task: TaskLike<[T], R>, items: MapInput<T>, options: Omit<MapOptions, 'ordered'> = {}): Promise<Awaited<R>[]> {
    return new Promise<Awaited<R>[]>((resolve, reject) => {
      this.#startMap<Awaited<R>>(task, 0, items, options, 'mapAll', { resolve, reject });
    });
  }

  /**
   * Refuses further calls (`TSMPI_ERR_SHUTDOWN`); maps already running go on. With `cancelFutures`,
   * calls not yet sent to a worker are dropped. With `wait` (default), resolves once nothing is queued
   * or running. The workers keep serving until the body of withExecutor is over. Calling it again is
   * harmless.
   */
  async shutdown(options: ShutdownOptions = {}): Promise<void> {
    this.#shutdown = true;
    if (options.cancelFutures) this.#cancelUnsent(tsmpiError('TSMPI_ERR_CANCELLED', 'the executor was shut down with cancelFutures before this call was sent to a worker'));
    if (options.wait ?? true) await this.#pool.idle();
  }

  #cancelUnsent(error: unknown): void {
    for (const chunk of this.#pool.queued()) {
      if (chunk.sink instanceof SubmitSink && this.#pool.cancel(chunk)) cancelFuture(chunk.sink.future, error);
    }
    for (const run of [...this.#maps]) run.cancelQueued(error);
  }

  /**
   * The body is over: no more calls; maps end where they are. Calls already submitted finish (when
   * the body failed, those not yet sent are cancelled). Resolves once nothing is left in flight.
   */
  async #end(bodyFailed: boolean): Promise<void> {
    this.#shutdown = true;
    this.#ended = true;
    for (const run of [...this.#maps]) run.abandon();
    if (bodyFailed) this.#cancelUnsent(tsmpiError('TSMPI_ERR_CANCELLED', 'the body of withExecutor failed before this call was sent to a worker'));
    await this.#pool.idle();
  }
}

/** Where the outcome of a submitted call goes: its future. */
class SubmitSink implements ChunkSink {
  constructor(readonly future: Future<unknown>) {}

  sent(): void {
    markSent(this.future);
  }

  settle(_chunk: Chunk, _offset: number, values: ArrayLike<unknown>, failures: [number, unknown][] | null): void {
    if (failures) rejectFuture(this.future, failures[0]![1]);
    else resolveFuture(this.future, values[0]);
  }

  fail(_chunk: Chunk, _offset: number, error: unknown): void {
    rejectFuture(this.future, error);
  }
}

/** @internal */
export function createExecutor(pool: Pool, table: TaskTable): Executor {
  return makeExecutor(pool, table);
}

/** @internal */
export function endOfBody(executor: Executor, bodyFailed: boolean): Promise<void> {
  return endExecutor(executor, bodyFailed);
}
