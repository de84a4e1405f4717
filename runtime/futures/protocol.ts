// The messages between an executor's root and its workers. They travel as objects (lowercase
// send/recv) on the executor's private communicator (a dup of the user's, made when withExecutor
// starts), so they never match the user's own messages. Tuples rather than records: a chunk of a
// few small items is mostly header, and msgpack writes an array without its keys.
//
//   root → worker, tag WORK:   CHUNK   [0, id, task index, spread, items]
//                              STOP    [1]
//                              BATCH   [2, [[id, task index, spread, items], …]]
//   worker → root, tag REPLY:  READY   [0, worker, host name, init error or null]        (once, first)
//                              RESULT  [1, worker, id, offset, values, failures, seconds]
//                              RESULTS [2, worker, [[id, values, failures, seconds], …]]
//
// A chunk is several calls of one task: item i is the argument (spread 0, `map`) or the argument list
// (spread 1, `submit` and `starmap`) of call i. Its RESULT gives the values of calls offset,
// offset + 1, … (undefined where the call failed) and the failures as [index within the chunk,
// EncodedError] pairs; `seconds` is the time the worker spent on the calls. A worker answers a chunk
// with one RESULT, or, when that one cannot be serialized, with one RESULT per call (offset counts
// them), the calls whose value cannot be serialized failing with TSMPI_ERR_SERIALIZE.
//
// A BATCH is the chunks of known short work (SHORT_WORK_SECONDS in all at most, since its first
// results wait for its last chunk) that root picked for one worker at once, in one message; the worker
// runs them in order and answers them all in one RESULTS (or, when that cannot be serialized, each
// chunk as above). Waking a parked rank thread or process costs 25–100 µs here, and a map of short
// calls cut into chunks ('auto': four per worker) otherwise woke each worker and root once per chunk.
//
// Flow: root keeps CHUNKS_PER_WORKER chunks in flight per worker, so that a worker finds its next
// chunk waiting while it reports the last one, and root always knows how many messages are still to
// come (a RESULT for every call of each chunk in flight, a READY from each worker). A map's chunks of a
// task whose calls are known to be short go deeper, up to MAX_CHUNKS_PER_WORKER while a worker holds
// less than SHORT_WORK_SECONDS of them: a worker finishes two such chunks before root, woken by the first
// result, can send it a third (a parked thread or process takes 20–100 µs to wake on this machine),
// and then it would wait idle. Long chunks stay two deep, which keeps the end of a map balanced. STOP
// goes to a worker once nothing is in flight; then every rank leaves with a barrier.
//
// A list of items or values that are all numbers travels as a Float64Array (from NUMBER_LIST_MIN_ITEMS
// on): the object codec sends its bytes out of band, so a chunk of numbers costs one copy instead of
// msgpack's per-item encoding and decoding (~20 and ~10 ns an item, most of a cheap task's map). The
// receiver indexes it as it would the list; every number, -0 and NaN included, arrives as it was.
import type { EncodedError } from './remote-error.js';

export const TAG_WORK = 1;
export const TAG_REPLY = 2;

export const CHUNKS_PER_WORKER = 2;
export const MAX_CHUNKS_PER_WORKER = 8;
/** Work a worker may hold beyond CHUNKS_PER_WORKER chunks, as earlier calls of the tasks took. */
export const SHORT_WORK_SECONDS = 0.001;

/** Message kinds (the first element of each message). */
export const CHUNK = 0, STOP = 1, BATCH = 2;
export const READY = 0, RESULT = 1, RESULTS = 2;

/** A list of items or values as it travels: as it is, or its numbers (compactList). */
export type ListOnWire = unknown[] | Float64Array;

export type ChunkMessage = [kind: typeof CHUNK, id: number, task: number, spread: 0 | 1, items: ListOnWire];
export type BatchEntry = [id: number, task: number, spread: 0 | 1, items: ListOnWire];
export type BatchMessage = [kind: typeof BATCH, chunks: BatchEntry[]];
export type ToWorker = ChunkMessage | BatchMessage | [kind: typeof STOP];

export type Failures = [index: number, error: EncodedError][];
export type ReadyMessage = [kind: typeof READY, worker: number, host: string, initError: EncodedError | null];
export type ResultMessage = [
  kind: typeof RESULT, worker: number, id: number, offset: number, values: ListOnWire, failures: Failures | null, seconds: number,
];
export type ResultsEntry = [id: number, values: ListOnWire, failures: Failures | null, seconds: number];
export type ResultsMessage = [kind: typeof RESULTS, worker: number, results: ResultsEntry[]];
export type FromWorker = ReadyMessage | ResultMessage | ResultsMessage;

/**
 * Lists shorter than this stay lists: 512 B, the object codec's out-of-band threshold (p2p/codec.ts,
 * which this bundle cannot import); below it a Float64Array travels in band and saves nothing.
 */
export const NUMBER_LIST_MIN_ITEMS = 64;

/** `list` as it should travel: a Float64Array when it is long enough and holds only numbers. */
export function compactList(list: ListOnWire): ListOnWire {
  return list instanceof Float64Array ? list : compactRange(list, 0, list.length);
}

/**
 * `list[start, end)` as it should travel (compactList), read straight from `list`: a map over an
 * array of numbers makes no intermediate slice of each chunk.
 */
export function compactRange(list: ArrayLike<unknown>, start: number, end: number): ListOnWire {
  if (end - start >= NUMBER_LIST_MIN_ITEMS && allNumbers(list, start, end)) {
    const numbers = new Float64Array(end - start);
    for (let i = start; i < end; i++) numbers[i - start] = list[i] as number;
    return numbers;
  }
  return Array.isArray(list) && start === 0 && end === list.length ? list : Array.prototype.slice.call(list, start, end);
}

function allNumbers(list: ArrayLike<unknown>, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (typeof list[i] !== 'number') return false;
  return true;
}
