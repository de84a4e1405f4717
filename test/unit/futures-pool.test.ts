// Unit tests of the root side of tsmpi/futures (runtime/futures/pool.ts, map-run.ts, executor.ts)
// against fake workers: each holds the chunks sent to it in order, as a real worker does, and the
// fake finishes the head chunk (or the head BATCH, all its chunks) of a worker chosen at random
// (seeded), with the real worker code (runChunk), sometimes answering chunk by chunk and call by call
// as a worker does when results cannot be serialized together. Many seeds, 1 to 4 workers, several chunk sizes: the order of results, the
// item a failure ends a map at, the read-ahead bound, calls whose arguments cannot be sent, cancel
// and shutdown, a failed initializer, a lost worker.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { isTsmpiError, tsmpiError } from '../../runtime/errors.js';
import { createExecutor, endOfBody, type Executor } from '../../runtime/futures/executor.js';
import type { Future } from '../../runtime/futures/future.js';
import type { WorkerLinks } from '../../runtime/futures/links.js';
import type { Progress } from '../../runtime/futures/map-run.js';
import { Pool } from '../../runtime/futures/pool.js';
import {
  BATCH, CHUNK, READY, RESULT, RESULTS, STOP, type ChunkMessage, type FromWorker, type ResultsEntry, type ToWorker,
} from '../../runtime/futures/protocol.js';
import { encodeError } from '../../runtime/futures/remote-error.js';
import { snapshotTasks, task, type TaskTable } from '../../runtime/futures/registry.js';
import { runChunk } from '../../runtime/futures/worker.js';
import { mulberry32 } from '../helpers/random.js';

const square = task('pool-square', (x: number) => x * x);
const failAt = task('pool-failAt', ([x, bad]: [number, number]) => {
  if (x === bad) throw new RangeError(`item ${x} fails`);
  return x;
});
const echo = task('pool-echo', <T>(x: T) => x);
const add = task('pool-add', (a: number, b: number) => a + b);
const byteLength = task('pool-byteLength', (bytes: Uint8Array) => bytes.byteLength);

interface FakeOptions {
  workers: number;
  seed: number;
  /** A worker whose initializer fails. */
  initFailsOn?: number;
  /** receive() rejects with this once this many results were delivered. */
  loseAfter?: number;
  /** The worker time each result reports per call, instead of the time runChunk measured. */
  secondsPerCall?: number;
}

/** Workers 1…n of a fake communicator of n + 1 ranks. */
class FakeWorkers implements WorkerLinks {
  readonly workers: number[];
  /** Per worker, the chunks it holds, in order; a BATCH's chunks are answered together (`#batchSizes`). */
  readonly queues = new Map<number, ChunkMessage[]>();
  readonly #batchSizes = new Map<number, number[]>();
  /** BATCH messages received. */
  batches = 0;
  readonly stopped: number[] = [];
  /** The most chunks each worker held at once. */
  readonly maxQueued = new Map<number, number>();
  sent = 0;
  delivered = 0;
  readonly #inbox: FromWorker[] = [];
  readonly #table: TaskTable;
  readonly #rnd: () => number;
  readonly #options: FakeOptions;
  #wake: (() => void) | undefined;

  constructor(table: TaskTable, options: FakeOptions) {
    this.#table = table;
    this.#options = options;
    this.#rnd = mulberry32(options.seed);
    this.workers = Array.from({ length: options.workers }, (_, i) => i + 1);
    for (const w of this.workers) {
      this.queues.set(w, []);
      this.#batchSizes.set(w, []);
      this.#inbox.push([READY, w, 'fakehost', w === options.initFailsOn ? encodeError(new TypeError('init failed')) : null]);
    }
  }

  send(worker: number, message: ToWorker): void {
    if (message[0] === STOP) {
      this.stopped.push(worker);
      return;
    }
    const chunks: ChunkMessage[] = message[0] === BATCH
      ? message[1].map(([id, taskIndex, spread, items]): ChunkMessage => [CHUNK, id, taskIndex, spread, items])
      : [message];
    // As the codec: a symbol cannot be serialized, and nothing is sent.
    const symbolic = (item: unknown) => typeof item === 'symbol' || (Array.isArray(item) && item.some((a) => typeof a === 'symbol'));
    if (chunks.some((chunk) => (chunk[4] as unknown[]).some(symbolic))) {
      throw tsmpiError('TSMPI_ERR_SERIALIZE', `cannot serialize a symbol at ${message[0] === BATCH ? 'value[1]' : 'value[4][0]'}`);
    }
    const queue = this.queues.get(worker)!;
    queue.push(...chunks);
    this.#batchSizes.get(worker)!.push(chunks.length);
    if (message[0] === BATCH) this.batches++;
    this.maxQueued.set(worker, Math.max(this.maxQueued.get(worker) ?? 0, queue.length));
    this.sent++;
    this.#wake?.();
  }

  async receive(): Promise<FromWorker> {
    if (this.#options.loseAfter !== undefined && this.delivered >= this.#options.loseAfter) {
      throw tsmpiError('TSMPI_ERR_PEER_LOST', 'rank 1 is gone');
    }
    const queued = this.#inbox.shift();
    if (queued) return this.#count(queued);
    await new Promise((resolve) => setImmediate(resolve)); // root's other work runs between messages
    const busy = this.workers.filter((w) => this.queues.get(w)!.length > 0);
    if (busy.length === 0) {
      await new Promise<void>((resolve) => { this.#wake = resolve; });
      this.#wake = undefined;
      return this.receive();
    }
    const worker = busy[Math.floor(this.#rnd() * busy.length)]!;
    const count = this.#batchSizes.get(worker)!.shift()!;
    const chunks = this.queues.get(worker)!.splice(0, count);
    const results: ResultsEntry[] = [];
    for (const chunk of chunks) {
      const { values, failures, seconds } = await runChunk(this.#table, chunk);
      const reported = this.#options.secondsPerCall === undefined ? seconds : this.#options.secondsPerCall * values.length;
      results.push([chunk[1], values, failures, reported]);
    }
    if (count > 1 && this.#rnd() >= 0.25) return this.#count([RESULTS, worker, results]);
    // One RESULT per chunk (a BATCH's results that cannot be serialized together), and sometimes one
    // message per call (a chunk's that cannot).
    for (const [id, values, failures, reported] of results) {
      if (values.length > 1 && this.#rnd() < 0.25) {
        for (let i = 0; i < values.length; i++) {
          const failure = failures?.find(([index]) => index === i);
          this.#inbox.push([RESULT, worker, id, i, [values[i]], failure ? [[0, failure[1]]] : null, 0]);
        }
      } else {
        this.#inbox.push([RESULT, worker, id, 0, values, failures, reported]);
      }
    }
    return this.#count(this.#inbox.shift()!);
  }

  #count(message: FromWorker): FromWorker {
    this.delivered++;
    return message;
  }
}

function setup(options: FakeOptions): { ex: Executor; fake: FakeWorkers; pool: Pool } {
  const table = snapshotTasks();
  const fake = new FakeWorkers(table, options);
  const pool = new Pool(fake, options.workers + 1);
  return { ex: createExecutor(pool, table), fake, pool };
}

async function drain<T>(it: AsyncIterable<T>): Promise<{ values: T[]; error: unknown }> {
  const values: T[] = [];
  try {
    for await (const v of it) values.push(v);
  } catch (error) {
    return { values, error };
  }
  return { values, error: undefined };
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const SEEDS = range(12).map((i) => 1000 + 17 * i);
const CHUNKSIZES = [1, 2, 3, 7, 'auto'] as const;

describe('maps under random completion orders', () => {
  it('ordered maps give the items\' order, unordered ones a permutation, mapAll the ordered array', async () => {
    for (const seed of SEEDS) {
      const rnd = mulberry32(seed);
      const { ex, fake } = setup({ workers: 1 + (seed % 4), seed });
      for (const chunksize of CHUNKSIZES) {
        const n = Math.floor(rnd() * 60);
        const why = `seed ${seed}, ${fake.workers.length} workers, chunksize ${chunksize}, ${n} items`;
        expect((await drain(ex.map(square, range(n), { chunksize }))).values, why).toEqual(range(n).map((x) => x * x));
        expect(sorted((await drain(ex.map(square, range(n), { chunksize, ordered: false }))).values), why).toEqual(range(n).map((x) => x * x));
        expect(await ex.mapAll(square, range(n), { chunksize }), why).toEqual(range(n).map((x) => x * x));
        expect((await drain(ex.map(square, (function* () { yield* range(n); })(), { chunksize }))).values, why).toEqual(range(n).map((x) => x * x));
        expect((await drain(ex.starmap(add, range(n).map((i) => [i, 1] as [number, number]), { chunksize }))).values, why).toEqual(range(n).map((x) => x + 1));
      }
      await endOfBody(ex, false);
    }
  });

  it('a failing call ends a map at its item: every item before it is handed on, then its error', async () => {
    for (const seed of SEEDS) {
      const rnd = mulberry32(seed);
      const { ex, fake } = setup({ workers: 1 + (seed % 4), seed });
      for (const chunksize of CHUNKSIZES) {
        const n = 1 + Math.floor(rnd() * 50), bad = Math.floor(rnd() * n);
        const items = range(n).map((i) => [i, bad] as [number, number]);
        const why = `seed ${seed}, ${fake.workers.length} workers, chunksize ${chunksize}, fails at ${bad} of ${n}`;
        const ordered = await drain(ex.map(failAt, items, { chunksize }));
        expect(ordered.values, why).toEqual(range(bad));
        expect((ordered.error as Error).message, why).toBe(`item ${bad} fails`);
        const all = await ex.mapAll(failAt, items, { chunksize }).then(() => undefined, (e: unknown) => e);
        expect(all, why).toBeInstanceOf(RangeError);
        expect((all as Error).message, why).toBe(`item ${bad} fails`);
        const unordered = await drain(ex.map(failAt, items, { chunksize, ordered: false }));
        expect(unordered.values.includes(bad), why).toBe(false);
        expect(new Set(unordered.values).size, why).toBe(unordered.values.length);
        expect((unordered.error as Error).message, why).toBe(`item ${bad} fails`);
        expect(await ex.submit(square, 3), why).toBe(9);
      }
      await endOfBody(ex, false);
    }
  });

  it('items whose arguments cannot be sent fail alone; the chunk\'s other items run', async () => {
    for (const seed of SEEDS.slice(0, 6)) {
      const { ex, fake } = setup({ workers: 1 + (seed % 3), seed });
      for (const chunksize of [1, 3, 10] as const) {
        const items: unknown[] = range(10);
        items[4] = Symbol('unsendable');
        const r = await drain(ex.map(echo, items, { chunksize }));
        expect(r.values).toEqual(range(4));
        expect(isTsmpiError(r.error, 'TSMPI_ERR_SERIALIZE')).toBe(true);
        expect((r.error as Error).message).toContain("the item of a call of task 'pool-echo' cannot be sent to a worker: cannot serialize a symbol at item");
        const unordered = await drain(ex.map(echo, items, { chunksize, ordered: false }));
        expect(isTsmpiError(unordered.error, 'TSMPI_ERR_SERIALIZE')).toBe(true);
        const bad = await ex.submit(add, 1, Symbol('x') as unknown as number).then(() => undefined, (e: unknown) => e);
        expect((bad as Error).message).toMatch(/the arguments of a call of task 'pool-add' cannot be sent to a worker: cannot serialize a symbol at args/);
      }
      // Once echo's calls are known to be short, its chunks went in batches: the one with the symbol
      // could not be sent, and its chunks went again one by one.
      expect(fake.batches).toBeGreaterThan(0);
      await endOfBody(ex, false);
    }
  });

  it('keeps no item of a chunk that was sent and answered (only the chunks in flight are held)', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const { ex } = setup({ workers: 2, seed: 7 });
    const items: WeakRef<Uint8Array>[] = [];
    const generate = function* () {
      for (let i = 0; i < 600; i++) {
        const item = new Uint8Array(4096);
        items.push(new WeakRef(item));
        yield item;
      }
    };
    expect(await ex.mapAll(byteLength, generate(), { chunksize: 1 })).toEqual(new Array(600).fill(4096));
    // WeakRefs hold their targets until the current job ends.
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    const alive = items.filter((ref) => ref.deref() !== undefined).length;
    expect(alive, 'items still reachable after the map ended').toBeLessThanOrEqual(4);
    await endOfBody(ex, false);
  });

  it('reads a bounded number of chunks ahead of its consumer, and nothing after a break', async () => {
    for (const seed of SEEDS.slice(0, 6)) {
      const workers = 1 + (seed % 4);
      const { ex } = setup({ workers, seed });
      for (const chunksize of [1, 4] as const) {
        let pulled = 0;
        const endless = function* () { for (let i = 0; ; i++) { pulled++; yield i; } };
        const bound = 4 * workers * chunksize + chunksize;
        let consumed = 0;
        for await (const v of ex.map(square, endless(), { chunksize })) {
          expect(v).toBe(consumed * consumed);
          consumed++;
          expect(pulled - consumed, `seed ${seed}, chunksize ${chunksize}`).toBeLessThanOrEqual(bound);
          if (consumed === 100) break;
        }
        const after = pulled;
        await ex.submit(square, 1);
        expect(pulled).toBe(after);
      }
      await endOfBody(ex, false);
    }
  });

  it('onProgress counts finished and failed items; total is known for arrays, at the end for generators', async () => {
    const { ex } = setup({ workers: 3, seed: 5 });
    const seen: Progress[] = [];
    await drain(ex.map(failAt, range(40).map((i) => [i, i % 10 === 3 ? i : -1] as [number, number]), { chunksize: 4, ordered: false, onProgress: (p) => seen.push({ ...p }) }));
    expect(seen.every((p) => p.total === 40)).toBe(true);
    expect(seen.every((p, i) => i === 0 || (p.done >= seen[i - 1]!.done && p.failed >= seen[i - 1]!.failed))).toBe(true);
    const gen: Progress[] = [];
    await ex.mapAll(square, (function* () { yield* range(100); })(), { chunksize: 2, onProgress: (p) => gen.push({ ...p }) });
    expect(gen[0]!.total).toBeUndefined();
    expect(gen.at(-1)).toEqual({ done: 100, failed: 0, total: 100 });
    await endOfBody(ex, false);
  });
});

describe('submit, cancel, shutdown', () => {
  it('two chunks in flight per worker; the rest queue on root and can be cancelled until sent', async () => {
    for (const workers of [1, 2, 4]) {
      const { ex, fake } = setup({ workers, seed: workers });
      await ex.submit(square, 0); // every worker ready
      const before = fake.sent;
      const fs = range(2 * workers + 5).map((i) => ex.submit(square, i));
      expect(fake.sent - before).toBe(2 * workers);
      for (const w of fake.workers) expect(fake.queues.get(w)!.length).toBeLessThanOrEqual(2);
      expect(fs.slice(0, 2 * workers).map((f) => f.cancel())).toEqual(fs.slice(0, 2 * workers).map(() => false));
      expect(fs.slice(-3).map((f) => f.cancel())).toEqual([true, true, true]);
      const outcomes = await Promise.allSettled(fs);
      expect(outcomes.slice(0, -3).map((o) => (o.status === 'fulfilled' ? o.value : o.reason))).toEqual(range(2 * workers + 2).map((i) => i * i));
      expect(outcomes.slice(-3).every((o) => o.status === 'rejected' && isTsmpiError(o.reason, 'TSMPI_ERR_CANCELLED'))).toBe(true);
      expect(fake.sent - before).toBe(2 * workers + 2);
      await endOfBody(ex, false);
    }
  });

  it('calls of a map known to be short go deeper than two chunks per worker; long ones, and submits, stay two deep', async () => {
    for (const [secondsPerCall, deep] of [[1e-5, true], [0.002, false]] as const) {
      for (const workers of [1, 2, 4]) {
        const { ex, fake } = setup({ workers, seed: 20 + workers, secondsPerCall });
        expect(await ex.mapAll(square, range(40 * workers), { chunksize: 1 })).toEqual(range(40 * workers).map((i) => i * i));
        const depth = Math.max(...fake.workers.map((w) => fake.maxQueued.get(w) ?? 0));
        if (deep) expect(depth, `${workers} workers`).toBeGreaterThan(2);
        // Short chunks that a pump hands one worker travel together; long ones alone.
        if (deep) expect(fake.batches, `${workers} workers`).toBeGreaterThan(0);
        else expect(fake.batches, `${workers} workers`).toBe(0);
        expect(depth, `${workers} workers`).toBeLessThanOrEqual(deep ? 8 : 2);
        // The cost of a square is known now; submitted calls still stay two deep.
        fake.maxQueued.clear();
        expect(await Promise.all(range(10 * workers).map((i) => ex.submit(square, i)))).toEqual(range(10 * workers).map((i) => i * i));
        expect(Math.max(...fake.workers.map((w) => fake.maxQueued.get(w) ?? 0))).toBeLessThanOrEqual(2);
        await endOfBody(ex, false);
      }
    }
  });

  it('shutdown: refuses calls; cancelFutures drops what was not sent; wait resolves when nothing is left', async () => {
    const { ex } = setup({ workers: 2, seed: 9 });
    await ex.submit(square, 0);
    const fs: Future<number>[] = range(10).map((i) => ex.submit(square, i));
    const map = ex.map(square, range(50), { chunksize: 1 });
    await ex.shutdown({ wait: true, cancelFutures: true });
    expect(fs.slice(0, 4).every((f) => f.done() && !f.cancelled())).toBe(true);
    expect(fs.slice(4).every((f) => f.cancelled())).toBe(true);
    const r = await drain(map);
    expect(isTsmpiError(r.error, 'TSMPI_ERR_CANCELLED')).toBe(true);
    expect(() => ex.submit(square, 1)).toThrow(/TSMPI_ERR_SHUTDOWN/);
    await endOfBody(ex, false);
  });

  it('the end of the body: maps stop, submitted calls finish (or, when the body failed, the unsent are cancelled)', async () => {
    for (const bodyFailed of [false, true]) {
      const { ex, fake } = setup({ workers: 2, seed: 3 });
      const fs = range(12).map((i) => ex.submit(square, i));
      void ex.map(square, range(1000), { chunksize: 1 });
      await endOfBody(ex, bodyFailed);
      expect(fs.every((f) => f.done())).toBe(true);
      expect(fs.filter((f) => f.cancelled()).length > 0).toBe(bodyFailed);
      for (const w of fake.workers) expect(fake.queues.get(w)).toEqual([]);
      expect(() => ex.map(square, [1])).toThrow(/TSMPI_ERR_SHUTDOWN: map: the executor has ended/);
    }
  });
});

describe('a broken or failed pool', () => {
  it('an initializer that fails on one worker fails every call, pending or later, with its error as cause', async () => {
    const { ex, fake } = setup({ workers: 3, seed: 1, initFailsOn: 2 });
    const pending = ex.submit(square, 2);
    const error = await pending.then(() => undefined, (e: unknown) => e) as Error & { cause: Error & { rank: number } };
    expect(isTsmpiError(error, 'TSMPI_ERR_BROKEN_EXECUTOR')).toBe(true);
    expect(error.message).toMatch(/the initializer failed on worker 2 \(init failed\)/);
    expect(error.cause).toBeInstanceOf(TypeError);
    expect(error.cause.rank).toBe(2);
    expect(fake.sent).toBe(0);
    expect(isTsmpiError(await ex.mapAll(square, [1]).catch((e: unknown) => e), 'TSMPI_ERR_BROKEN_EXECUTOR')).toBe(true);
    await endOfBody(ex, false);
  });

  it('a lost worker fails every call in flight or queued, and later ones, with its error', async () => {
    const { ex, pool } = setup({ workers: 2, seed: 4, loseAfter: 5 });
    const fs = range(20).map((i) => ex.submit(square, i));
    const outcomes = await Promise.allSettled(fs);
    const lost = outcomes.filter((o) => o.status === 'rejected');
    expect(lost.length).toBeGreaterThan(0);
    for (const o of lost) expect(isTsmpiError((o as PromiseRejectedResult).reason, 'TSMPI_ERR_PEER_LOST')).toBe(true);
    expect(isTsmpiError(pool.failure, 'TSMPI_ERR_PEER_LOST')).toBe(true);
    expect(isTsmpiError(await ex.submit(square, 1).then(() => undefined, (e: unknown) => e), 'TSMPI_ERR_PEER_LOST')).toBe(true);
    await endOfBody(ex, false);
  });

  it('messages root does not expect are a protocol error', async () => {
    const table = snapshotTasks();
    const fake = new FakeWorkers(table, { workers: 1, seed: 1 });
    const real = fake.receive.bind(fake);
    let calls = 0;
    fake.receive = async () => (++calls === 2 ? [RESULT, 1, 999, 0, [1], null, 0] : real());
    const pool = new Pool(fake, 2);
    const ex = createExecutor(pool, table);
    const f = ex.submit(square, 2);
    expect(isTsmpiError(await f.then(() => undefined, (e: unknown) => e), 'TSMPI_ERR_PROTOCOL')).toBe(true);
    expect(CHUNK).toBe(0);
  });
});
