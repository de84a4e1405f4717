// The worker side of an executor: every rank but root runs serveTasks between the start and the end
// of withExecutor. It runs the initializer, reports READY, then runs the chunks root sends, one at a
// time, and answers each (a BATCH's all at once: protocol.ts), until STOP. The next chunk is already
// waiting in the worker's queue while it reports the last one (root keeps two or more in flight per
// worker).
import { hostname } from 'node:os';
import type { Comm } from '../comm/comm.js';
import { isTsmpiError, tsmpiError } from '../errors.js';
import {
  BATCH, CHUNK, compactList, NUMBER_LIST_MIN_ITEMS, READY, RESULT, RESULTS, STOP, TAG_REPLY, TAG_WORK,
  type BatchEntry, type ListOnWire, type ChunkMessage, type Failures, type ResultMessage, type ResultsEntry, type ResultsMessage, type ToWorker,
} from './protocol.js';
import { encodeError, type EncodedError } from './remote-error.js';
import type { TaskTable } from './registry.js';

/** Any function: a task, or the initializer. */
type Callable = (...args: unknown[]) => unknown;

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as { then?: unknown }).then === 'function';
}

/** Calls `fn` with `args`, awaiting what it returns when that is a promise; its failure encoded. */
export async function callEncoded(fn: Callable, args: readonly unknown[]): Promise<EncodedError | null> {
  try {
    const value = fn(...args);
    if (isThenable(value)) await value;
    return null;
  } catch (e) {
    return encodeError(e);
  }
}

export interface ChunkOutcome {
  /** The calls' values: their numbers while every one is a number (as they travel: compactList). */
  values: ListOnWire;
  failures: Failures | null;
  seconds: number;
}

/** A call's outcome: the value it returned, or what it threw. */
interface Outcome { value: unknown; threw: boolean }

/**
 * Calls `fn` on items `from`… of a chunk while each returns a number, into `out`: the plain loop a
 * serial map runs, with no await and no check but the value's type (the general loop of runChunk cost
 * ~12 ns more an item, a quarter of a cheap task's time). Returns where it stopped, with that call's
 * outcome (`at` = the length when every call gave a number).
 */
function runNumbers(fn: Callable, items: ListOnWire, out: Float64Array, from: number): Outcome & { at: number } {
  let i = from;
  try {
    for (; i < out.length; i++) {
      const value = fn(items[i]);
      if (typeof value !== 'number') return { at: i, value, threw: false };
      out[i] = value;
    }
  } catch (e) {
    return { at: i, value: e, threw: true };
  }
  return { at: out.length, value: undefined, threw: false };
}

/**
 * Runs the calls of a chunk in order. A call that throws (or returns a promise that rejects) gives
 * undefined as its value and a failure; the others go on. Synchronous tasks run back to back, with
 * no await between them. Values go straight into the Float64Array they travel as, until one is not
 * a number: a list of them would cost an array, a scan and a copy more per chunk. Once the first call
 * of a map's chunk gave a number, the next ones run in runNumbers' loop until one does not.
 */
export async function runChunk(table: TaskTable, message: ChunkMessage): Promise<ChunkOutcome> {
  const [, , taskIndex, spread, items] = message;
  const fn = table.functions[taskIndex] as Callable;
  const n = items.length;
  let numbers: Float64Array | null = null;
  let values: unknown[] = [];
  let failures: Failures | null = null;
  /** The outcome of call i when runNumbers made that call and stopped at it. */
  let carried: Outcome | undefined;
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    let value: unknown;
    try {
      if (carried) {
        const outcome = carried;
        carried = undefined;
        if (outcome.threw) throw outcome.value;
        value = outcome.value;
      } else {
        value = spread ? fn(...(items[i] as unknown[])) : fn(items[i]);
      }
      if (isThenable(value)) value = await value;
    } catch (e) {
      value = undefined;
      (failures ??= []).push([i, encodeError(e)]);
    }
    if (i === 0) {
      if (n >= NUMBER_LIST_MIN_ITEMS && typeof value === 'number') numbers = new Float64Array(n);
      else values = new Array<unknown>(n);
    }
    if (numbers) {
      if (typeof value === 'number') {
        numbers[i] = value;
        if (!spread) {
          const stop = runNumbers(fn, items, numbers, i + 1);
          if (stop.at === n) break;
          carried = stop;
          i = stop.at - 1;
        }
        continue;
      }
      values = Array.from(numbers.subarray(0, i));
      values.length = n;
      numbers = null;
    }
    values[i] = value;
  }
  return { values: numbers ?? values, failures, seconds: (performance.now() - started) / 1000 };
}

/** The worker's answer to a chunk; one message per call when the whole does not serialize. */
async function reply(comm: Comm, root: number, message: ResultMessage, taskName: string): Promise<void> {
  let whole: Promise<void>;
  try {
    whole = comm.isend(message, root, TAG_REPLY).wait();
  } catch (e) {
    if (!isTsmpiError(e, 'TSMPI_ERR_SERIALIZE')) throw e;
    const [kind, worker, id, , values, failures, seconds] = message;
    for (let i = 0; i < values.length; i++) {
      const failure = failures?.find(([index]) => index === i);
      const single: ResultMessage = [kind, worker, id, i, [values[i]], failure ? [[0, failure[1]]] : null, i === 0 ? seconds : 0];
      try {
        await comm.isend(single, root, TAG_REPLY).wait();
      } catch (itemError) {
        if (!isTsmpiError(itemError, 'TSMPI_ERR_SERIALIZE')) throw itemError;
        const reason = itemError.message.replace(/^TSMPI_ERR_SERIALIZE: /, '').replace(/ at value\[4\]\[0\]/, ' at value');
        const unsent = tsmpiError('TSMPI_ERR_SERIALIZE', `task '${taskName}' returned a value that cannot be sent to root: ${reason}`);
        await comm.send([kind, worker, id, i, [undefined], [[0, encodeError(unsent)]], 0] satisfies ResultMessage, root, TAG_REPLY);
      }
    }
    return;
  }
  await whole;
}

/**
 * Serves tasks for the executor whose root is `root` on `comm` (the executor's private communicator)
 * until root says STOP.
 */
export async function serveTasks(
  comm: Comm, root: number, table: TaskTable, initializer: Callable | undefined, initargs: readonly unknown[],
): Promise<void> {
  const initError = initializer ? await callEncoded(initializer, initargs) : null;
  await comm.send([READY, comm.rank, hostname(), initError], root, TAG_REPLY);
  for (;;) {
    const message = await comm.recv<ToWorker>(root, TAG_WORK);
    if (message[0] === STOP) return;
    if (message[0] === BATCH) {
      await runBatch(comm, root, table, message[1]);
      continue;
    }
    if (message[0] !== CHUNK) throw tsmpiError('TSMPI_ERR_PROTOCOL', `executor worker ${comm.rank}: unknown message kind ${String(message[0])}`);
    const { values, failures, seconds } = await runChunk(table, message);
    await reply(comm, root, [RESULT, comm.rank, message[1], 0, compactList(values), failures, seconds], table.names[message[2]]!);
  }
}

/** Runs a BATCH's chunks in order and answers them in one RESULTS; each chunk alone when that cannot be serialized. */
async function runBatch(comm: Comm, root: number, table: TaskTable, chunks: BatchEntry[]): Promise<void> {
  const results: ResultsEntry[] = [];
  for (const [id, task, spread, items] of chunks) {
    const { values, failures, seconds } = await runChunk(table, [CHUNK, id, task, spread, items]);
    results.push([id, compactList(values), failures, seconds]);
  }
  let whole: Promise<void>;
  try {
    whole = comm.isend([RESULTS, comm.rank, results] satisfies ResultsMessage, root, TAG_REPLY).wait();
  } catch (e) {
    if (!isTsmpiError(e, 'TSMPI_ERR_SERIALIZE')) throw e;
    for (let k = 0; k < results.length; k++) {
      const [id, values, failures, seconds] = results[k]!;
      await reply(comm, root, [RESULT, comm.rank, id, 0, values, failures, seconds], table.names[chunks[k]![1]]!);
    }
    return;
  }
  await whole;
}
