// How many items of a map travel in one chunk, and how far a map reads ahead. A chunk costs one
// message each way (~40 µs of round trip on this machine, warm) whatever its size, so tiny tasks
// need large chunks; large chunks balance the load worse near the end of a map. chunksize 'auto':
//   - length known (an array, typed array, Set or Map): multiprocessing.Pool.map's rule,
//     ceil(n / (4 × workers)), so each worker gets about four chunks;
//   - length unknown (a generator, any other iterable, an async iterable): adaptive. Chunks start at
//     one item; each result tells how long its items took on the worker, and the next chunk holds
//     about ADAPTIVE_TARGET_SECONDS of work, growing at most twofold per result, up to
//     ADAPTIVE_MAX_ITEMS.
import { tsmpiError } from '../errors.js';

/** A map's chunk size: a number of items, or 'auto' (see above). */
export type Chunksize = number | 'auto';

/** Chunks a map may have read and not yet handed to its consumer, per worker (its read-ahead). */
export const WINDOW_CHUNKS_PER_WORKER = 4;

/** Worker time an adaptive chunk aims at: ~0.4% of it is the message overhead. */
export const ADAPTIVE_TARGET_SECONDS = 0.01;
export const ADAPTIVE_MAX_ITEMS = 4096;

/** The number of items of `items` when it is known without iterating, else undefined. */
export function knownLength(items: unknown): number | undefined {
  if (Array.isArray(items)) return items.length;
  if (ArrayBuffer.isView(items) && !(items instanceof DataView)) return (items as unknown as ArrayLike<unknown>).length;
  if (items instanceof Set || items instanceof Map) return items.size;
  return undefined;
}

/** multiprocessing's chunk size for `length` items over `workers` workers (at least 1). */
export function autoChunksize(length: number, workers: number): number {
  return Math.max(1, Math.ceil(length / (WINDOW_CHUNKS_PER_WORKER * workers)));
}

/** Checks a chunksize option (TSMPI_ERR_ARG); returns it. */
export function checkChunksize(chunksize: unknown, call: string): Chunksize {
  if (chunksize === 'auto') return chunksize;
  if (typeof chunksize !== 'number' || !Number.isInteger(chunksize) || chunksize < 1) {
    throw tsmpiError('TSMPI_ERR_ARG', `${call}: chunksize must be a positive integer or 'auto', got ${typeof chunksize === 'string' ? `'${chunksize}'` : String(chunksize)}`);
  }
  return chunksize;
}

/** The chunk sizes of a map: fixed, or adapting to the time items take (see the file's header). */
export class ChunkSizer {
  #size: number;
  readonly #adaptive: boolean;
  /** Worker seconds per item, smoothed over the results so far. */
  #perItem: number | undefined;

  constructor(chunksize: Chunksize, length: number | undefined, workers: number) {
    this.#adaptive = chunksize === 'auto' && length === undefined;
    this.#size = chunksize === 'auto' ? (length === undefined ? 1 : autoChunksize(length, workers)) : chunksize;
  }

  /** Items in the next chunk. */
  get size(): number {
    return this.#size;
  }

  /** A chunk of `items` items took `seconds` on its worker. */
  observe(items: number, seconds: number): void {
    if (!this.#adaptive || items <= 0 || !(seconds >= 0)) return;
    const perItem = seconds / items;
    this.#perItem = this.#perItem === undefined ? perItem : 0.5 * this.#perItem + 0.5 * perItem;
    const ideal = this.#perItem > 0 ? ADAPTIVE_TARGET_SECONDS / this.#perItem : Infinity;
    this.#size = Math.max(1, Math.min(Math.floor(ideal), 2 * this.#size, ADAPTIVE_MAX_ITEMS));
  }
}
