// One map of an executor (map, starmap, mapAll): reads its items lazily, a chunk at a time, and
// keeps at most WINDOW_CHUNKS_PER_WORKER chunks per worker read and not yet handed to the consumer;
// sends each chunk through the pool; hands the results on in item order (ordered) or in the order
// chunks finish (unordered). A failed call ends the map at that item: every item before it (in the
// order the map hands them on) is still handed on, then the map rejects with that call's error.
// The map runs from the call on; its consumer is an async iterator (map, starmap) or the array
// mapAll resolves to. When it ends early (an error, a timeout, the consumer's `break`), the chunks
// not yet sent are dropped and late results ignored.
import { tsmpiError } from '../errors.js';
import { ChunkSizer, checkChunksize, knownLength, WINDOW_CHUNKS_PER_WORKER, type Chunksize } from './chunking.js';
import { deadlineOf } from './future.js';
import { newChunk, type Chunk, type ChunkSink, type Pool } from './pool.js';
import { compactRange, type ListOnWire } from './protocol.js';

/** How far a map has got, as given to its `onProgress` callback. */
export interface Progress {
  /** Items finished, successfully or not. */
  done: number;
  /** Of those, the items whose call failed. */
  failed: number;
  /** The number of items, once known (at the call for arrays, typed arrays, Sets and Maps; else when the input ends). */
  total: number | undefined;
}

/** Options of `Executor.map`, `starmap` and `mapAll`. */
export interface MapOptions {
  /**
   * Items per chunk (one message each way): a positive integer, or `'auto'` (default):
   * `ceil(n / (4 × numWorkers))` when the number of items n is known, else adapting to how long items
   * take (chunks of about 10 ms of work, starting at one item).
   */
  chunksize?: Chunksize;
  /** true (default): results in the order of the items; false: as chunks finish. mapAll is always ordered. */
  ordered?: boolean;
  /**
   * Milliseconds from the call: waiting for a result past this time rejects with a TsmpiError
   * `TSMPI_ERR_TIMEOUT` (results that arrived in time are still handed on first). Default: no limit.
   */
  timeout?: number;
  /** Called as results arrive (from root's event loop; keep it quick). */
  onProgress?: (progress: Progress) => void;
}

/** The items of a map: anything iterable, or async iterable. */
export type MapInput<T> = Iterable<T> | AsyncIterable<T>;

interface Part {
  /** Item index of values[0]. */
  pos: number;
  values: ArrayLike<unknown>;
  /** Failed calls: index within values → error. */
  errors: Map<number, unknown> | null;
}

type Source =
  | { kind: 'array'; array: ArrayLike<unknown>; next: number }
  | { kind: 'sync'; iterator: Iterator<unknown> }
  | { kind: 'async'; iterator: AsyncIterator<unknown> };

/** The two ends of mapAll's promise. */
export interface Collector<R> {
  resolve: (values: R[]) => void;
  reject: (error: unknown) => void;
}

/** Where a map's task runs: its index in the executor's task table, and its name. */
export interface TaskRef {
  index: number;
  name: string;
}

const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };
const NO_ERROR = Symbol('no error');

/**
 * mapAll's array for `total` values (undefined: not known, it grows), the first of which are `first`.
 * Known numbers go straight into unboxed doubles: an array made holey (tagged slots) would be copied
 * into new double storage at the first number stored, which doubled the map's allocation on root.
 */
function resultArray<R>(total: number | undefined, first: ArrayLike<unknown>): R[] {
  if (total === undefined) return [];
  if (!(first instanceof Float64Array)) return new Array<R>(total);
  const out = [0.5];
  out.length = total;
  return out as R[];
}

/** Checks map options (TSMPI_ERR_ARG) and the input; returns the source to read. */
function openSource(items: unknown, call: string): Source {
  if (Array.isArray(items) || (ArrayBuffer.isView(items) && !(items instanceof DataView))) {
    return { kind: 'array', array: items as ArrayLike<unknown>, next: 0 };
  }
  const object = items as { [Symbol.iterator]?: unknown; [Symbol.asyncIterator]?: unknown } | null | undefined;
  if (object != null && typeof object[Symbol.asyncIterator] === 'function') {
    return { kind: 'async', iterator: (object as AsyncIterable<unknown>)[Symbol.asyncIterator]() };
  }
  if (object != null && typeof object[Symbol.iterator] === 'function') {
    return { kind: 'sync', iterator: (object as Iterable<unknown>)[Symbol.iterator]() };
  }
  throw tsmpiError('TSMPI_ERR_ARG', `${call}: items must be iterable or async iterable, got ${items === null ? 'null' : typeof items}`);
}

export class MapRun<R> implements ChunkSink, AsyncIterableIterator<R> {
  readonly ofMap = true;
  readonly #pool: Pool;
  readonly #task: TaskRef;
  readonly #spread: 0 | 1;
  readonly #ordered: boolean;
  readonly #numWorkers: number;
  readonly #call: string;
  readonly #timeout: number | undefined;
  readonly #deadline: number | undefined;
  readonly #onProgress: ((progress: Progress) => void) | undefined;
  readonly #sizer: ChunkSizer;
  readonly #onEnd: (run: MapRun<R>) => void;
  readonly #source: Source;
  #total: number | undefined;
  #reading = false;
  #inputDone = false;
  /** Items read, handed on, finished (successfully or not), failed. */
  #read = 0;
  #consumed = 0;
  #done = 0;
  #failed = 0;
  /** Items of the chunks the pool has sent (while fewer than #read, some may still be queued there). */
  #sentItems = 0;
  /**
   * Finished parts not yet handed on: by item index (ordered) or in arrival order. Few (the window
   * bounds them), so an array; a Map that takes and drops a part per chunk would keep parts alive
   * through scavenges once the map has lived long enough to reach the old generation (pool.ts,
   * WorkerSlot.chunks).
   */
  #parts: Part[] = [];
  #cursor = 0;
  #current: Part | undefined;
  #index = 0;
  #finished = false;
  /** An error the iterator throws at its next call (onProgress threw). */
  #pendingError: unknown = NO_ERROR;
  #wakers: (() => void)[] = [];
  /** mapAll: the values so far (the array is made with the first of them) and the promise's ends. */
  readonly #collect: (Collector<R> & { out: R[] | undefined; length: number; timer?: ReturnType<typeof setTimeout> }) | undefined;

  /** Starts the map at once. `collect`: mapAll's promise ends (the map is ordered then). */
  constructor(
    pool: Pool, numWorkers: number, task: TaskRef, spread: 0 | 1, items: unknown, options: MapOptions, call: string,
    onEnd: (run: MapRun<R>) => void, collect?: Collector<R>,
  ) {
    const chunksize = checkChunksize(options.chunksize === undefined ? 'auto' : options.chunksize, call);
    if (options.ordered !== undefined && typeof options.ordered !== 'boolean') {
      throw tsmpiError('TSMPI_ERR_ARG', `${call}: ordered must be a boolean, got ${typeof options.ordered}`);
    }
    if (options.onProgress !== undefined && typeof options.onProgress !== 'function') {
      throw tsmpiError('TSMPI_ERR_ARG', `${call}: onProgress must be a function, got ${typeof options.onProgress}`);
    }
    this.#deadline = deadlineOf(options.timeout, call);
    this.#source = openSource(items, call);
    this.#pool = pool;
    this.#numWorkers = numWorkers;
    this.#task = task;
    this.#spread = spread;
    this.#call = call;
    this.#timeout = options.timeout;
    this.#ordered = collect !== undefined || options.ordered !== false;
    this.#onProgress = options.onProgress;
    this.#onEnd = onEnd;
    this.#total = knownLength(items);
    this.#sizer = new ChunkSizer(chunksize, this.#total, numWorkers);
    if (collect) {
      this.#collect = { out: undefined, length: 0, ...collect };
      if (options.timeout !== undefined) this.#collect.timer = setTimeout(() => this.#timedOut(), options.timeout);
    }
    this.#fill();
    if (collect) this.#drain();
  }

  // -----------------------------------------------------------------------------------------------
  // Reading the input

  #window(): number {
    return WINDOW_CHUNKS_PER_WORKER * this.#numWorkers * this.#sizer.size;
  }

  /** Reads chunks while the window has room; those read together go to the pool together (Pool.enqueue). */
  #fill(): void {
    const read: Chunk[] = [];
    try {
      this.#fillInto(read);
    } finally {
      if (read.length > 0) this.#pool.enqueue(...read);
    }
  }

  #fillInto(read: Chunk[]): void {
    while (!this.#finished && !this.#inputDone && !this.#reading && this.#read - this.#consumed < this.#window()) {
      const size = this.#sizer.size;
      const source = this.#source;
      if (source.kind === 'async') {
        this.#readAsync(source.iterator, size);
        return;
      }
      let items: ListOnWire = [];
      let ended = false;
      try {
        if (source.kind === 'array') {
          const end = Math.min(source.next + size, source.array.length);
          items = compactRange(source.array, source.next, end);
          source.next = end;
          ended = end >= source.array.length;
        } else {
          const read: unknown[] = (items = []);
          while (read.length < size) {
            const r = source.iterator.next();
            if (r.done) {
              ended = true;
              break;
            }
            read.push(r.value);
          }
        }
      } catch (e) {
        this.#dispatch(items, false, read);
        this.#pool.enqueue(...read.splice(0));
        this.#inputFailed(e);
        return;
      }
      this.#dispatch(items, ended, read);
    }
  }

  #readAsync(iterator: AsyncIterator<unknown>, size: number): void {
    this.#reading = true;
    const items: unknown[] = [];
    const step = (): Promise<void> => iterator.next().then((r) => {
      if (this.#finished || this.#inputDone) {
        this.#reading = false;
        return undefined;
      }
      if (r.done) return this.#afterAsyncRead(items, true);
      items.push(r.value);
      return items.length < size ? step() : this.#afterAsyncRead(items, false);
    });
    step().catch((e: unknown) => {
      this.#reading = false;
      if (this.#finished || this.#inputDone) return;
      this.#dispatch(items, false);
      this.#inputFailed(e);
    });
  }

  #afterAsyncRead(items: unknown[], ended: boolean): void {
    this.#reading = false;
    this.#dispatch(items, ended);
    this.#fill();
  }

  /** Makes a chunk of `items` and queues it in the pool, or in `read` for #fill to queue. */
  #dispatch(items: ListOnWire, ended: boolean, read?: Chunk[]): void {
    if (items.length > 0) {
      const chunk = newChunk(this.#task.index, this.#task.name, this.#spread, items, this.#read, this);
      this.#read += items.length;
      if (read) read.push(chunk);
      else this.#pool.enqueue(chunk);
    }
    if (ended) this.#inputEnded();
  }

  #inputEnded(): void {
    if (this.#inputDone) return;
    this.#inputDone = true;
    this.#total = this.#read;
    this.#changed();
  }

  /** Reading the input threw: the map fails at that item. */
  #inputFailed(error: unknown): void {
    const pos = this.#read;
    this.#read++;
    this.#inputDone = true;
    this.#total = this.#read;
    this.#addPart(pos, [undefined], [[0, error]]);
  }

  // -----------------------------------------------------------------------------------------------
  // Results (ChunkSink)

  sent(chunk: Chunk): void {
    this.#sentItems += chunk.items.length;
  }

  settle(chunk: Chunk, offset: number, values: ArrayLike<unknown>, failures: [number, unknown][] | null, seconds: number): void {
    if (this.#finished) return;
    this.#sizer.observe(values.length, seconds);
    this.#addPart(chunk.base + offset, values, failures);
  }

  fail(chunk: Chunk, offset: number, error: unknown): void {
    if (this.#finished) return;
    const n = chunk.items.length - offset;
    this.#addPart(chunk.base + offset, new Array<unknown>(n).fill(undefined), Array.from({ length: n }, (_, i): [number, unknown] => [i, error]));
  }

  #addPart(pos: number, values: ArrayLike<unknown>, failures: [number, unknown][] | null): void {
    const part: Part = { pos, values, errors: failures && failures.length > 0 ? new Map(failures) : null };
    const parts = this.#parts;
    let at = parts.length;
    if (this.#ordered) while (at > 0 && parts[at - 1]!.pos > pos) at--;
    if (at === parts.length) parts.push(part);
    else parts.splice(at, 0, part);
    this.#done += values.length;
    this.#failed += part.errors?.size ?? 0;
    if (this.#onProgress) {
      try {
        this.#onProgress({ done: this.#done, failed: this.#failed, total: this.#total });
      } catch (e) {
        this.#abort(e);
        return;
      }
    }
    this.#changed();
  }

  #changed(): void {
    if (this.#collect) {
      this.#drain();
      return;
    }
    const wakers = this.#wakers;
    if (wakers.length === 0) return;
    this.#wakers = [];
    for (const wake of wakers) wake();
  }

  /** The next finished part to hand on, or undefined. */
  #nextPart(): Part | undefined {
    const parts = this.#parts;
    if (parts.length === 0 || (this.#ordered && parts[0]!.pos !== this.#cursor)) return undefined;
    const part = parts.shift()!;
    this.#cursor += part.values.length;
    return part;
  }

  #ended(): boolean {
    return this.#inputDone && this.#consumed === this.#read;
  }

  /** mapAll: takes every part that is next in order; resolves, or rejects at the first failure. */
  #drain(): void {
    const collect = this.#collect!;
    if (this.#finished) return;
    for (let part = this.#nextPart(); part; part = this.#nextPart()) {
      this.#consumed += part.values.length;
      if (part.errors) {
        const error = part.errors.get(Math.min(...part.errors.keys()));
        this.#finish();
        collect.reject(error);
        return;
      }
      const values = part.values;
      const out = (collect.out ??= resultArray<R>(this.#total, values));
      let at = collect.length;
      for (let i = 0; i < values.length; i++) out[at++] = values[i] as R;
      collect.length = at;
    }
    if (this.#ended()) {
      this.#finish();
      const out = collect.out ?? [];
      out.length = collect.length;
      collect.resolve(out);
      return;
    }
    this.#fill();
  }

  #timeoutError(): Error {
    const left = (this.#total ?? this.#read) - this.#consumed;
    const of = this.#total === undefined ? '' : ` of ${this.#total}`;
    return tsmpiError('TSMPI_ERR_TIMEOUT', `${this.#call}: ${left}${of} results not ready within ${this.#timeout} ms`);
  }

  #timedOut(): void {
    if (this.#finished) return;
    const error = this.#timeoutError();
    this.#finish();
    this.#collect?.reject(error);
  }

  // -----------------------------------------------------------------------------------------------
  // The iterator (map, starmap)

  /** Whether the map is over (ended, failed, stopped). */
  get finished(): boolean {
    return this.#finished;
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<R> {
    return this;
  }

  async next(): Promise<IteratorResult<R>> {
    for (;;) {
      if (this.#finished) {
        const error = this.#pendingError;
        this.#pendingError = NO_ERROR;
        if (error !== NO_ERROR) throw error;
        return DONE;
      }
      const part = this.#current;
      if (part && this.#index < part.values.length) {
        const i = this.#index++;
        this.#consumed++;
        if (part.errors?.has(i)) {
          this.#finish();
          throw part.errors.get(i);
        }
        this.#fill();
        return { done: false, value: part.values[i] as R };
      }
      this.#current = this.#nextPart();
      this.#index = 0;
      if (this.#current) continue;
      if (this.#ended()) {
        this.#finish();
        return DONE;
      }
      const remaining = this.#deadline === undefined ? Infinity : this.#deadline - performance.now();
      if (remaining <= 0) {
        const error = this.#timeoutError();
        this.#finish();
        throw error;
      }
      await new Promise<void>((resolve) => {
        const timer = remaining === Infinity ? undefined : setTimeout(resolve, remaining);
        this.#wakers.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Ends the map (a `break` out of `for await` calls it): nothing more is read or sent. */
  async return(): Promise<IteratorResult<R>> {
    this.#finish();
    return DONE;
  }

  // -----------------------------------------------------------------------------------------------
  // Ending

  /** The executor ends (or onProgress threw): the map ends with `error`, or quietly. */
  #abort(error: unknown): void {
    if (this.#finished) return;
    this.#pendingError = error;
    this.#finish();
    this.#collect?.reject(error);
  }

  /** The executor drops what this map has not sent: those calls fail with `error`, and nothing more is read. */
  cancelQueued(error: unknown): void {
    if (this.#finished) return;
    for (const chunk of this.#queuedChunks()) {
      if (this.#pool.cancel(chunk)) this.fail(chunk, 0, error);
    }
    this.#stopReading();
    this.#changed();
  }

  /** The executor's body is over: the map ends quietly. */
  abandon(): void {
    this.#finish();
  }

  #stopReading(): void {
    if (this.#inputDone) return;
    this.#inputDone = true;
    this.#total ??= this.#read;
    const source = this.#source;
    if (source.kind === 'array') return;
    try {
      // As a for…of that stops early: the generator's finally blocks run.
      const closing = source.iterator.return?.();
      if (closing && typeof (closing as PromiseLike<unknown>).then === 'function') (closing as Promise<unknown>).catch(() => {});
    } catch {
      // its own error; the map is over anyway
    }
  }

  /** This map's chunks still queued in the pool. */
  #queuedChunks(): Chunk[] {
    return this.#sentItems < this.#read ? this.#pool.queued().filter((chunk) => chunk.sink === this) : [];
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    if (this.#collect?.timer !== undefined) clearTimeout(this.#collect.timer);
    for (const chunk of this.#queuedChunks()) this.#pool.cancel(chunk);
    this.#parts = [];
    this.#current = undefined;
    this.#stopReading();
    this.#changed();
    this.#onEnd(this);
  }
}
