// The memory that rank threads of one process share (tsmpirun --ranks threads): one growable
// SharedArrayBuffer, made by the process that hosts the threads and handed to each at its start, so
// that no message between threads ever needs a postMessage. It holds
//  - a directory: for every ordered pair of local ranks (i, j), where the ring i → j lives (0 until
//    rank i first sends to rank j and makes it: rings are made lazily, by their producer only, so
//    making one needs no lock);
//  - one doorbell per rank: a counter every producer bumps after it published bytes for that rank (or
//    freed room in a ring that rank writes to), and a flag the rank raises while it sleeps, so that a
//    producer calls Atomics.notify — which takes a process-wide lock in V8 and a system call, ~8 µs
//    here — only then, and only the producer that lowers the flag (Open MPI's sm BTL and MPICH's shm
//    both wake a receiver only when it waits);
//  - the rings themselves, allocated by bumping a shared pointer (rings live as long as the job).
// Offsets are in 64-byte units so that every ring and doorbell starts on a cache line of its own.
// The growable buffer's limit is 4 GiB (V8's for SharedArrayBuffer here); only what is used is memory.
import { tsmpiError } from '../errors.js';

const MAGIC = 0x74736d70; // 'tsmp'
const LINE_INTS = 16; // 64 bytes
const LINE_BYTES = 64;
const MAX_ARENA_BYTES = 2 ** 32;

// Header words.
const H_MAGIC = 0;
const H_RANKS = 1;
/** Next free 64-byte line. */
const H_BUMP = 2;
const HEADER_LINES = 1;

/** A doorbell line: the counter, and the sleeping flag. */
export const BELL_COUNT = 0;
export const BELL_PARKED = 1;

export interface ArenaInit {
  /** The shared buffer (growable). */
  readonly buffer: SharedArrayBuffer;
  /** World rank of each local rank, in local order. */
  readonly worldRanks: readonly number[];
}

/** Creates the arena of a process that hosts `worldRanks.length` rank threads. */
export function createArena(worldRanks: readonly number[]): ArenaInit {
  const n = worldRanks.length;
  const lines = arenaLayout(n).firstRingLine;
  const buffer = new SharedArrayBuffer(Math.max(lines * LINE_BYTES, 1 << 20), { maxByteLength: MAX_ARENA_BYTES });
  const words = new Int32Array(buffer);
  words[H_MAGIC] = MAGIC;
  words[H_RANKS] = n;
  words[H_BUMP] = lines;
  return { buffer, worldRanks: [...worldRanks] };
}

function arenaLayout(n: number): { directoryLine: number; bellsLine: number; firstRingLine: number } {
  const directoryLine = HEADER_LINES;
  const directoryLines = Math.ceil((n * n) / LINE_INTS);
  const bellsLine = directoryLine + directoryLines;
  return { directoryLine, bellsLine, firstRingLine: bellsLine + n };
}

/** One rank thread's view of the arena. */
export class Arena {
  readonly buffer: SharedArrayBuffer;
  /** Length-tracking view: sees the buffer as it grows. */
  readonly words: Int32Array;
  readonly size: number;
  /** This rank's local index. */
  readonly me: number;
  readonly worldRanks: readonly number[];
  readonly #localOf = new Map<number, number>();
  readonly #directory: number;
  readonly #bells: number;

  constructor(init: ArenaInit, myWorldRank: number) {
    this.buffer = init.buffer;
    this.words = new Int32Array(init.buffer);
    if (this.words[H_MAGIC] !== MAGIC) throw tsmpiError('TSMPI_ERR_INTERN', 'shared-memory arena: bad magic');
    this.size = this.words[H_RANKS]!;
    this.worldRanks = init.worldRanks;
    init.worldRanks.forEach((w, i) => this.#localOf.set(w, i));
    const me = this.#localOf.get(myWorldRank);
    if (me === undefined) throw tsmpiError('TSMPI_ERR_INTERN', `shared-memory arena: rank ${myWorldRank} is not one of its ranks`);
    this.me = me;
    const layout = arenaLayout(this.size);
    this.#directory = layout.directoryLine * LINE_INTS;
    this.#bells = layout.bellsLine * LINE_INTS;
  }

  /** The local index of a world rank that shares this arena, or -1. */
  localOf(worldRank: number): number {
    return this.#localOf.get(worldRank) ?? -1;
  }

  /** Index (in `words`) of rank `local`'s doorbell line. */
  bell(local: number): number {
    return this.#bells + local * LINE_INTS;
  }

  /** Where the ring `from` → `to` starts (a byte offset), or 0 if not made yet. */
  ringOffset(from: number, to: number): number {
    return Atomics.load(this.words, this.#directory + from * this.size + to) * LINE_BYTES;
  }

  /**
   * Makes the ring from this rank to `to` (`bytes` long, a multiple of 64) and publishes it in the
   * directory; returns its byte offset. Only this rank makes rings from itself, so no two threads ever
   * make the same one.
   */
  makeRing(to: number, bytes: number): number {
    const lines = bytes / LINE_BYTES;
    const first = Atomics.add(this.words, H_BUMP, lines);
    const end = (first + lines) * LINE_BYTES;
    if (end > MAX_ARENA_BYTES) throw tsmpiError('TSMPI_ERR_COUNT', 'shared memory between rank threads is exhausted (4 GiB of rings)');
    // Another thread may grow it at the same time: growing only ever succeeds upwards.
    while (this.buffer.byteLength < end) {
      try {
        this.buffer.grow(Math.min(MAX_ARENA_BYTES, Math.max(end, this.buffer.byteLength * 2)));
      } catch {
        // grown past `end` by someone else meanwhile, or raced: look again
      }
    }
    Atomics.store(this.words, this.#directory + this.me * this.size + to, first);
    return first * LINE_BYTES;
  }

  /** Wakes rank `local`: its doorbell rings, and if it sleeps, it is woken. */
  ring(local: number): void {
    const bell = this.bell(local);
    Atomics.add(this.words, bell + BELL_COUNT, 1);
    // The producer that lowers the flag wakes the rank; the others need not, as it reads every ring
    // when it wakes (a burst of sends to a sleeping rank costs one notify, not one each).
    if (Atomics.load(this.words, bell + BELL_PARKED) !== 0 && Atomics.compareExchange(this.words, bell + BELL_PARKED, 1, 0) === 1) {
      Atomics.notify(this.words, bell + BELL_COUNT);
    }
  }
}
