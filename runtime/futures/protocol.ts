// The messages between an executor's root and its workers. They travel as objects (lowercase
// send/recv) on the executor's private communicator (a dup of the user's, made when withExecutor
// starts), so they never match the user's own messages. Tuples rather than records: a chunk of a
// few small items is mostly header, and msgpack writes an array without its keys.
//
//   root → worker, tag WORK:   CHUNK  [0, id, task index, spread, items]
//                              STOP   [1]
//   worker → root, tag REPLY:  READY  [0, worker, host name, init error or null]        (once, first)
//                              RESULT [1, worker, id, offset, values, failures, seconds]
//
// A chunk is several calls of one task: item i is the argument (spread 0, `map`) or the argument list
// (spread 1, `submit` and `starmap`) of call i. Its RESULT gives the values of calls offset,
// offset + 1, … (undefined where the call failed) and the failures as [index within the chunk,
// EncodedError] pairs; `seconds` is the time the worker spent on the calls. A worker answers a chunk
// with one RESULT, or, when that one cannot be serialized, with one RESULT per call (offset counts
// them), the calls whose value cannot be serialized failing with TSMPI_ERR_SERIALIZE.
//
// Flow: root keeps at most CHUNKS_PER_WORKER chunks in flight per worker, so that a worker finds its
// next chunk waiting while it reports the last one, and root always knows how many messages are
// still to come (a RESULT for every call of each chunk in flight, a READY from each worker). STOP
// goes to a worker once nothing is in flight; then every rank leaves with a barrier.
import type { EncodedError } from './remote-error.js';

export const TAG_WORK = 1;
export const TAG_REPLY = 2;

export const CHUNKS_PER_WORKER = 2;

/** Message kinds (the first element of each message). */
export const CHUNK = 0, STOP = 1;
export const READY = 0, RESULT = 1;

export type ChunkMessage = [kind: typeof CHUNK, id: number, task: number, spread: 0 | 1, items: unknown[]];
export type ToWorker = ChunkMessage | [kind: typeof STOP];

export type Failures = [index: number, error: EncodedError][];
export type ReadyMessage = [kind: typeof READY, worker: number, host: string, initError: EncodedError | null];
export type ResultMessage = [
  kind: typeof RESULT, worker: number, id: number, offset: number, values: unknown[], failures: Failures | null, seconds: number,
];
export type FromWorker = ReadyMessage | ResultMessage;
