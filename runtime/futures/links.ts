// How an executor's root reaches its workers: over the executor's private communicator, or, when
// the communicator has one rank, through a worker that runs in the root's own process.
import { hostname } from 'node:os';
import type { Comm } from '../comm/comm.js';
import { ANY_SOURCE } from '../constants.js';
import {
  BATCH, CHUNK, compactList, READY, RESULT, TAG_REPLY, TAG_WORK, type BatchEntry, type ChunkMessage, type FromWorker, type ToWorker,
} from './protocol.js';
import type { TaskTable } from './registry.js';
import { callEncoded, runChunk } from './worker.js';

export interface WorkerLinks {
  /** The workers' ranks. */
  readonly workers: readonly number[];
  /**
   * Sends a message to the worker of rank `worker`. Throws TSMPI_ERR_SERIALIZE (synchronously, before
   * anything is sent) when the message cannot be serialized; later failures go to `onFailure`.
   */
  send(worker: number, message: ToWorker, onFailure: (error: unknown) => void): void;
  /** The next message from any worker. */
  receive(): Promise<FromWorker>;
}

/**
 * THE place where an executor's root waits: for the next message from any of its workers (results,
 * readiness). The root spends most of its time here while the workers compute, and it must not take
 * a core from them while it waits: with ranks as processes, a receive waits in the event loop, off
 * the CPU. When the runtime's threads mode (ranks as threads, whose waits spin before they park)
 * arrives, this wait must park at once ("park, do not spin"): the hint goes here, and nowhere else in
 * the executor waits on the runtime (every other wait of root is a promise this loop settles).
 */
export function receiveFromWorkers(comm: Comm): Promise<FromWorker> {
  return comm.recv<FromWorker>(ANY_SOURCE, TAG_REPLY);
}

/** Workers that are the other ranks of the executor's private communicator. */
export class RemoteLinks implements WorkerLinks {
  readonly workers: readonly number[];

  constructor(private readonly comm: Comm, root: number) {
    this.workers = Array.from({ length: comm.size }, (_, r) => r).filter((r) => r !== root);
  }

  send(worker: number, message: ToWorker, onFailure: (error: unknown) => void): void {
    let onWire = message;
    if (message[0] === CHUNK) onWire = [CHUNK, message[1], message[2], message[3], compactList(message[4] as unknown[])];
    else if (message[0] === BATCH) onWire = [BATCH, message[1].map(([id, task, spread, items]): BatchEntry => [id, task, spread, compactList(items as unknown[])])];
    this.comm.isend(onWire, worker, TAG_WORK).wait().catch(onFailure);
  }

  receive(): Promise<FromWorker> {
    return receiveFromWorkers(this.comm);
  }
}

/**
 * The worker of an executor on a communicator of one rank: it runs the chunks in this process, one
 * at a time, each in an event loop turn of its own (so that the executor's body, timers and I/O go
 * on between chunks). Values are passed as they are, not copied.
 */
export class InProcessLinks implements WorkerLinks {
  readonly workers: readonly number[];
  readonly #table: TaskTable;
  readonly #chunks: ChunkMessage[] = [];
  readonly #inbox: FromWorker[] = [];
  #wake: (() => void) | undefined;
  #running = false;

  constructor(rank: number, table: TaskTable, initializer: ((...args: unknown[]) => unknown) | undefined, initargs: readonly unknown[]) {
    this.workers = [rank];
    this.#table = table;
    void (initializer ? callEncoded(initializer, initargs) : Promise.resolve(null)).then((error) => {
      this.#deliver([READY, rank, hostname(), error]);
    });
  }

  send(_worker: number, message: ToWorker): void {
    if (message[0] === CHUNK) this.#chunks.push(message);
    else if (message[0] === BATCH) for (const [id, task, spread, items] of message[1]) this.#chunks.push([CHUNK, id, task, spread, items]);
    else return;
    if (!this.#running) void this.#run();
  }

  receive(): Promise<FromWorker> {
    const next = this.#inbox.shift();
    if (next) return Promise.resolve(next);
    return new Promise<void>((resolve) => { this.#wake = resolve; }).then(() => this.receive());
  }

  #deliver(message: FromWorker): void {
    this.#inbox.push(message);
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async #run(): Promise<void> {
    this.#running = true;
    try {
      for (let chunk = this.#chunks.shift(); chunk; chunk = this.#chunks.shift()) {
        await new Promise((resolve) => setImmediate(resolve));
        const { values, failures, seconds } = await runChunk(this.#table, chunk);
        this.#deliver([RESULT, this.workers[0]!, chunk[1], 0, values, failures, seconds]);
      }
    } finally {
      this.#running = false;
    }
  }
}
