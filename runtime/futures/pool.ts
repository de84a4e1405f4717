// The root side of an executor: a queue of chunks (calls of one task), sent to the workers as they
// have room (CHUNKS_PER_WORKER in flight each, more for short calls: protocol.ts), and one receive loop that takes their answers and
// hands each chunk's outcomes to its sink (a Future for `submit`, a MapRun for the maps). Root
// always knows how many answers are still to come, so it posts a receive only while one is: when
// the pool is idle nothing of it is pending on the communicator.
import { isTsmpiError, tsmpiError } from '../errors.js';
import type { WorkerLinks } from './links.js';
import {
  BATCH, CHUNK, CHUNKS_PER_WORKER, MAX_CHUNKS_PER_WORKER, READY, RESULT, RESULTS, SHORT_WORK_SECONDS, STOP,
  type BatchEntry, type FromWorker, type ListOnWire, type ReadyMessage, type ResultMessage, type ResultsMessage, type ToWorker,
} from './protocol.js';
import { decodeError } from './remote-error.js';

/** Where the outcomes of a chunk's calls go. */
export interface ChunkSink {
  /**
   * The chunks are a map's: when its calls are known to be short, a worker may hold more than two of
   * them (protocol.ts). A submitted call never waits behind more than one other on a worker.
   */
  readonly ofMap?: boolean;
  /** The chunk went to a worker (it can no longer be cancelled). */
  sent?(chunk: Chunk): void;
  /**
   * Calls `offset`… of `chunk` are done: their values (undefined where a call failed) and the
   * failures as [index within `values`, error] pairs, with the worker time they took.
   */
  settle(chunk: Chunk, offset: number, values: ArrayLike<unknown>, failures: [number, unknown][] | null, seconds: number): void;
  /** Calls `offset`… of `chunk` will not run (or their outcomes are lost): each fails with `error`. */
  fail(chunk: Chunk, offset: number, error: unknown): void;
}

export interface Chunk {
  readonly task: number;
  readonly taskName: string;
  /** 1: each item is an argument list (submit, starmap); 0: each item is the one argument (map). */
  readonly spread: 0 | 1;
  /** The calls' items: a list, or their numbers (protocol.ts, compactList). */
  readonly items: ListOnWire;
  /** The sink's position of the first item (a map's item index). */
  readonly base: number;
  readonly sink: ChunkSink;
  state: 'new' | 'queued' | 'sent' | 'done' | 'cancelled';
  /** Calls whose outcome has not arrived (while sent). */
  remaining: number;
  id: number;
  worker: number;
  /** Worker seconds the chunk should take, from earlier calls of its task (Infinity: unknown); set when sent. */
  estimate: number;
  /** Worker seconds its results reported so far. */
  seconds: number;
  /** It goes in a message of its own, never in a BATCH (its batch could not be serialized). */
  alone: boolean;
}

export function newChunk(task: number, taskName: string, spread: 0 | 1, items: ListOnWire, base: number, sink: ChunkSink): Chunk {
  return { task, taskName, spread, items, base, sink, state: 'new', remaining: items.length, id: 0, worker: -1, estimate: Infinity, seconds: 0, alone: false };
}

interface WorkerSlot {
  rank: number;
  ready: boolean;
  /**
   * Its chunks in flight, in the order sent (a worker answers them in that order). Not a Map by
   * chunk id: a long-lived Map that takes and drops an entry per chunk makes V8 rehash its table every
   * few chunks, and each dropped table that had reached the old generation keeps the next one, and
   * the chunks (maps, result arrays) in it, alive through every scavenge until a full GC.
   */
  chunks: Chunk[];
  inFlight: number;
  /** The estimates of its chunks in flight: their sum where known, and how many are unknown. */
  work: number;
  unknownWork: number;
  host: string;
}

export class Pool {
  readonly #links: WorkerLinks;
  /** The size of the communicator (for error origins: "worker R of S"). */
  readonly #size: number;
  readonly #slots = new Map<number, WorkerSlot>();
  readonly #order: WorkerSlot[];
  #nextSlot = 0;
  /**
   * FIFO: chunks to send, cancelled ones skipped when they come up. A slot taken is emptied at once:
   * the queue is compacted only now and then, and must not keep a thousand chunks' items alive until.
   */
  #queue: (Chunk | undefined)[] = [];
  #queueHead = 0;
  /** Chunks queued and not cancelled. */
  #queued = 0;
  /** Per task index: worker seconds per call, smoothed over its chunks so far. */
  readonly #secondsPerCall = new Map<number, number>();
  #nextId = 1;
  /** Answers still to come: a READY per worker until it arrives, a RESULT per call of each chunk in flight. */
  #expected = 0;
  #receiving = false;
  /** Workers that have not reported ready. */
  #unready: number;
  /** Set when a worker's initializer failed: every chunk not sent fails with it. */
  #broken: unknown;
  /** Set when the pool cannot go on (a lost worker, a protocol error): everything fails with it. */
  #failure: unknown;
  #idleWaiters: (() => void)[] = [];

  constructor(links: WorkerLinks, size: number) {
    this.#links = links;
    this.#size = size;
    this.#order = links.workers.map((rank) => ({ rank, ready: false, chunks: [], inFlight: 0, work: 0, unknownWork: 0, host: '' }));
    for (const slot of this.#order) this.#slots.set(slot.rank, slot);
    this.#expected = this.#unready = this.#order.length;
    this.#receive();
  }

  get numWorkers(): number {
    return this.#order.length;
  }

  /** The error that failed the pool, if any (a lost worker…). */
  get failure(): unknown {
    return this.#failure;
  }

  /**
   * Queues `chunks` (or fails them at once when the pool is broken), and sends what the workers have
   * room for: the chunks of one call go out together, so that a worker's share can travel as one BATCH.
   */
  enqueue(...chunks: Chunk[]): void {
    const refusal = this.#failure ?? this.#broken;
    for (const chunk of chunks) {
      if (refusal !== undefined) {
        chunk.state = 'done';
        chunk.sink.fail(chunk, 0, refusal);
        continue;
      }
      chunk.state = 'queued';
      this.#queue.push(chunk);
      this.#queued++;
    }
    if (refusal === undefined) this.#pump();
  }

  /** Takes a queued chunk out; false once it was sent (or done). */
  cancel(chunk: Chunk): boolean {
    if (chunk.state === 'cancelled') return true;
    if (chunk.state !== 'queued') return false;
    chunk.state = 'cancelled';
    this.#queued--;
    this.#checkIdle();
    return true;
  }

  /** The chunks queued and not cancelled, in the order they will go. */
  queued(): Chunk[] {
    const queued: Chunk[] = [];
    for (let k = this.#queueHead; k < this.#queue.length; k++) {
      const chunk = this.#queue[k];
      if (chunk?.state === 'queued') queued.push(chunk);
    }
    return queued;
  }

  /** Resolves once nothing is queued or in flight and every worker has reported ready. */
  idle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Tells every worker to stop; only when idle. */
  stop(): void {
    for (const slot of this.#order) this.#links.send(slot.rank, [STOP], (e) => this.#fail(e));
  }

  #isIdle(): boolean {
    return this.#failure !== undefined || (this.#queued === 0 && this.#expected === 0);
  }

  #checkIdle(): void {
    if (this.#idleWaiters.length === 0 || !this.#isIdle()) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /**
   * The worker with the fewest chunks in flight that has room for a chunk estimated at `estimate`
   * seconds (ties in turn); none before every worker has reported ready, so that an initializer
   * failing on any worker fails every call.
   */
  #pickWorker(estimate: number): WorkerSlot | undefined {
    if (this.#unready > 0) return undefined;
    let best: WorkerSlot | undefined;
    const n = this.#order.length;
    for (let k = 0; k < n; k++) {
      const slot = this.#order[(this.#nextSlot + k) % n]!;
      if (hasRoom(slot, estimate) && (best === undefined || slot.inFlight < best.inFlight)) best = slot;
    }
    if (best) this.#nextSlot = (this.#order.indexOf(best) + 1) % n;
    return best;
  }

  /** Worker seconds `chunk` should take, from the calls of its task so far (Infinity before any, and for submitted calls). */
  #estimate(chunk: Chunk): number {
    if (chunk.sink.ofMap !== true) return Infinity;
    const perCall = this.#secondsPerCall.get(chunk.task);
    return perCall === undefined ? Infinity : perCall * chunk.items.length;
  }

  /** The next chunk to send, left in the queue (cancelled ones are dropped). */
  #peek(): Chunk | undefined {
    while (this.#queueHead < this.#queue.length) {
      const chunk = this.#queue[this.#queueHead]!;
      if (chunk.state === 'queued') return chunk;
      this.#queue[this.#queueHead++] = undefined;
    }
    return undefined;
  }

  #dequeue(): Chunk | undefined {
    while (this.#queueHead < this.#queue.length) {
      const chunk = this.#queue[this.#queueHead]!;
      this.#queue[this.#queueHead++] = undefined;
      if (this.#queueHead > 1024 && this.#queueHead * 2 > this.#queue.length) {
        this.#queue = this.#queue.slice(this.#queueHead);
        this.#queueHead = 0;
      }
      if (chunk.state === 'queued') return chunk;
    }
    return undefined;
  }

  /** Puts chunks back at the head of the queue, in order. */
  #requeueFirst(chunks: Chunk[]): void {
    this.#queue.splice(this.#queueHead, 0, ...chunks);
    for (const chunk of chunks) chunk.state = 'queued';
    this.#queued += chunks.length;
  }

  /**
   * Sends queued chunks while workers have room. Chunks of known short work (a map's, once its task
   * has run) that this pass gives one worker go as one BATCH (protocol.ts); others go one by one.
   */
  #pump(): void {
    let batches: Map<WorkerSlot, Chunk[]> | undefined;
    for (;;) {
      while (this.#queued > 0 && this.#failure === undefined) {
        const next = this.#peek()!;
        const estimate = this.#estimate(next);
        const slot = this.#pickWorker(estimate);
        if (!slot) break;
        const chunk = this.#dequeue()!;
        this.#queued--;
        chunk.id = this.#nextId++;
        const batch = !chunk.alone && estimate <= SHORT_WORK_SECONDS ? batches?.get(slot) ?? [] : undefined;
        if (batch && batch.reduce((work, c) => work + c.estimate, estimate) <= SHORT_WORK_SECONDS) {
          this.#markSent(chunk, slot, estimate);
          if (batch.length === 0) (batches ??= new Map()).set(slot, batch);
          batch.push(chunk);
          continue;
        }
        try {
          this.#links.send(slot.rank, [CHUNK, chunk.id, chunk.task, chunk.spread, chunk.items], (e) => this.#fail(e));
        } catch (e) {
          if (!isTsmpiError(e, 'TSMPI_ERR_SERIALIZE')) throw e;
          this.#unsendable(chunk, e.message);
          continue;
        }
        this.#markSent(chunk, slot, estimate);
        chunk.sink.sent?.(chunk);
      }
      if (!batches) break;
      const unsent = this.#sendBatches(batches);
      batches = undefined;
      if (unsent.length === 0) break;
      // A batch that cannot be serialized: its chunks go again, one by one, so that only the calls
      // whose arguments cannot be sent fail.
      for (const chunk of unsent) chunk.alone = true;
      this.#requeueFirst(unsent);
    }
    this.#receive();
    this.#checkIdle();
  }

  /** Sends each worker its batch; returns the chunks of batches that cannot be serialized (taken back). */
  #sendBatches(batches: Map<WorkerSlot, Chunk[]>): Chunk[] {
    const unsent: Chunk[] = [];
    for (const [slot, chunks] of batches) {
      if (this.#failure !== undefined) break;
      const message: ToWorker = chunks.length === 1
        ? [CHUNK, chunks[0]!.id, chunks[0]!.task, chunks[0]!.spread, chunks[0]!.items]
        : [BATCH, chunks.map((c): BatchEntry => [c.id, c.task, c.spread, c.items])];
      try {
        this.#links.send(slot.rank, message, (e) => this.#fail(e));
      } catch (e) {
        if (!isTsmpiError(e, 'TSMPI_ERR_SERIALIZE')) throw e;
        for (const chunk of chunks) this.#unmarkSent(chunk, slot);
        unsent.push(...chunks);
        continue;
      }
      for (const chunk of chunks) chunk.sink.sent?.(chunk);
    }
    return unsent;
  }

  /** `chunk` is on its way to `slot`'s worker (or is about to be, in a batch). */
  #markSent(chunk: Chunk, slot: WorkerSlot, estimate: number): void {
    chunk.state = 'sent';
    chunk.worker = slot.rank;
    chunk.estimate = estimate;
    slot.inFlight++;
    if (Number.isFinite(estimate)) slot.work += estimate;
    else slot.unknownWork++;
    this.#expected += chunk.remaining;
    slot.chunks.push(chunk);
  }

  /** Undoes #markSent for a chunk whose batch could not be sent. */
  #unmarkSent(chunk: Chunk, slot: WorkerSlot): void {
    chunk.worker = -1;
    slot.inFlight--;
    if (Number.isFinite(chunk.estimate)) slot.work -= chunk.estimate;
    else slot.unknownWork--;
    if (slot.inFlight === 0) slot.work = 0;
    this.#expected -= chunk.remaining;
    slot.chunks.splice(slot.chunks.indexOf(chunk), 1);
  }

  /**
   * A chunk whose message cannot be serialized: a chunk of several calls is split into one chunk per
   * call (so that only the calls whose arguments cannot be sent fail); a single call fails with
   * TSMPI_ERR_SERIALIZE.
   */
  #unsendable(chunk: Chunk, reason: string): void {
    if (chunk.items.length > 1) {
      this.#requeueFirst(Array.from(chunk.items, (item, i) => newChunk(chunk.task, chunk.taskName, chunk.spread, [item], chunk.base + i, chunk.sink)));
      chunk.state = 'done';
      return;
    }
    chunk.state = 'done';
    const where = reason.replace(/^TSMPI_ERR_SERIALIZE: /, '').replace(/ at value\[4\]\[0\]/, chunk.spread ? ' at args' : ' at item');
    chunk.sink.fail(chunk, 0, tsmpiError('TSMPI_ERR_SERIALIZE', `the ${chunk.spread ? 'arguments' : 'item'} of a call of task '${chunk.taskName}' cannot be sent to a worker: ${where}`));
  }

  #receive(): void {
    if (this.#receiving || this.#expected === 0 || this.#failure !== undefined) return;
    this.#receiving = true;
    void this.#receiveLoop();
  }

  async #receiveLoop(): Promise<void> {
    try {
      while (this.#expected > 0 && this.#failure === undefined) this.#handle(await this.#links.receive());
    } catch (e) {
      this.#fail(e);
    } finally {
      this.#receiving = false;
    }
    this.#checkIdle();
  }

  #handle(message: FromWorker): void {
    if (message[0] === READY) this.#ready(message);
    else if (message[0] === RESULT) this.#result(message);
    else if (message[0] === RESULTS) this.#results(message);
    else throw tsmpiError('TSMPI_ERR_PROTOCOL', `executor root: unknown message kind ${String((message as unknown[])[0])}`);
  }

  #ready([, rank, host, initError]: ReadyMessage): void {
    const slot = this.#slots.get(rank);
    if (!slot || slot.ready) throw tsmpiError('TSMPI_ERR_PROTOCOL', `executor root: unexpected READY from rank ${rank}`);
    slot.ready = true;
    slot.host = host;
    this.#expected--;
    this.#unready--;
    if (initError && this.#broken === undefined) {
      const cause = decodeError(initError, { rank, size: this.#size, host, task: '(initializer)' });
      this.#broken = tsmpiError('TSMPI_ERR_BROKEN_EXECUTOR', `the initializer failed on worker ${rank} (${cause instanceof Error ? cause.message : String(cause)}): the executor runs no task`, cause);
      for (let chunk = this.#dequeue(); chunk; chunk = this.#dequeue()) {
        this.#queued--;
        chunk.state = 'done';
        chunk.sink.fail(chunk, 0, this.#broken);
      }
    }
    this.#pump();
  }

  #result(message: ResultMessage): void {
    this.#settle(message);
    this.#pump();
  }

  /** A batch's results: every chunk settles before anything more is sent. */
  #results([, worker, results]: ResultsMessage): void {
    for (const [id, values, failures, seconds] of results) this.#settle([RESULT, worker, id, 0, values, failures, seconds]);
    this.#pump();
  }

  #settle([, worker, id, offset, values, failures, seconds]: ResultMessage): void {
    const slot = this.#slots.get(worker);
    const at = slot ? slot.chunks.findIndex((c) => c.id === id) : -1;
    const chunk = at >= 0 ? slot!.chunks[at] : undefined;
    if (!chunk || !slot) throw tsmpiError('TSMPI_ERR_PROTOCOL', `executor root: unexpected result of chunk ${id} from rank ${worker}`);
    chunk.remaining -= values.length;
    this.#expected -= values.length;
    chunk.seconds += seconds;
    if (chunk.remaining === 0) {
      chunk.state = 'done';
      slot.chunks.splice(at, 1);
      slot.inFlight--;
      if (Number.isFinite(chunk.estimate)) slot.work -= chunk.estimate;
      else slot.unknownWork--;
      if (slot.inFlight === 0) slot.work = 0; // no rounding left over
      const perCall = chunk.seconds / chunk.items.length, before = this.#secondsPerCall.get(chunk.task);
      if (perCall >= 0) this.#secondsPerCall.set(chunk.task, before === undefined ? perCall : 0.5 * before + 0.5 * perCall);
    }
    const origin = { rank: worker, size: this.#size, host: slot.host, task: chunk.taskName };
    const errors = failures && failures.map(([i, encoded]): [number, unknown] => [i, decodeError(encoded, origin)]);
    chunk.sink.settle(chunk, offset, values, errors, seconds);
  }

  /** The pool cannot go on: every chunk queued or in flight fails with `error`, and so will later ones. */
  #fail(error: unknown): void {
    if (this.#failure !== undefined) return;
    this.#failure = error ?? tsmpiError('TSMPI_ERR_INTERN', 'the executor failed');
    // In the order they were sent, as a failure of each would have come back.
    const lost = this.#order.flatMap((slot) => slot.chunks.splice(0)).sort((a, b) => a.id - b.id);
    for (let chunk = this.#dequeue(); chunk; chunk = this.#dequeue()) lost.push(chunk);
    this.#queued = 0;
    this.#expected = 0;
    for (const chunk of lost) {
      // A chunk in flight may have given some of its calls' outcomes already (one message per call).
      const offset = chunk.state === 'sent' ? chunk.items.length - chunk.remaining : 0;
      chunk.state = 'done';
      chunk.sink.fail(chunk, offset, this.#failure);
    }
    this.#checkIdle();
  }
}

/**
 * Two chunks in flight per worker; more, up to MAX_CHUNKS_PER_WORKER, while every chunk the worker holds
 * is of known cost and they add up, with this one, to at most SHORT_WORK_SECONDS (protocol.ts).
 */
function hasRoom(slot: WorkerSlot, estimate: number): boolean {
  if (slot.inFlight < CHUNKS_PER_WORKER) return true;
  return slot.inFlight < MAX_CHUNKS_PER_WORKER && slot.unknownWork === 0 && slot.work + estimate <= SHORT_WORK_SECONDS;
}
