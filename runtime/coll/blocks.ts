// How the algorithms that move per-rank blocks (scatter, gather, allgather and their v-variants) send
// and receive runs of blocks, for either family. A run is `count` blocks of consecutive ranks starting
// at absolute rank `first`, cyclically modulo the size, so a tree rooted anywhere or a Bruck step can
// name its range without caring where rank 0 falls; the store turns a run into one message.
import { tsmpiError } from '../errors.js';
import type { TypedArray } from '../wire/dtype.js';
import type { CollChannel } from './channel.js';
import { newLike } from './payload.js';
import { joinParts, recvExact } from './relay.js';

export interface BlockStore {
  /** This rank is about to handle blocks [first, first + count): a window store sizes itself here. */
  hold(first: number, count: number): void;
  send(dest: number, first: number, count: number): Promise<void>;
  recv(source: number, first: number, count: number): Promise<void>;
}

/**
 * Equal-length typed blocks, either
 *  - all `size` blocks in rank order in one buffer (a root's send/recv buffer, an allgather's recvbuf):
 *    a run that wraps past the last rank is staged through a temporary copy, or
 *  - a window held by a non-root rank of a tree: just the run [rank, rank + count) it handles. A window
 *    of one block is the rank's own buffer itself (no copy); a larger one is a temporary whose first
 *    block is the rank's own (copied in for gather, copied out for scatter by `finish`).
 */
export class TypedBlocks implements BlockStore {
  private buf: TypedArray | undefined;
  /** Rank of the block at offset 0 of `buf`, and how many blocks `buf` holds. */
  private base = 0;
  private held = 0;

  private constructor(
    private readonly ch: CollChannel,
    private readonly tag: number,
    private readonly blockLength: number,
    private readonly own: TypedArray | undefined,
    private readonly ownIsInput: boolean,
  ) {}

  /** All blocks, in rank order, in `buf`. */
  static full(ch: CollChannel, tag: number, buf: TypedArray, blockLength: number): TypedBlocks {
    const store = new TypedBlocks(ch, tag, blockLength, undefined, false);
    store.buf = buf;
    store.held = ch.size;
    return store;
  }

  /** A window whose first block is this rank's `own` data: read from it (gather) or delivered into it (scatter). */
  static window(ch: CollChannel, tag: number, own: TypedArray, direction: 'gather' | 'scatter'): TypedBlocks {
    return new TypedBlocks(ch, tag, own.length, own, direction === 'gather');
  }

  hold(first: number, count: number): void {
    if (this.own === undefined) return; // a full store holds everything already
    this.base = first;
    this.held = count;
    if (count === 1) {
      this.buf = this.own;
    } else {
      this.buf = newLike(this.own, count * this.blockLength);
      if (this.ownIsInput) this.buf.set(this.own as never);
    }
  }

  /** Scatter into a window: delivers this rank's block to its own buffer if it landed in a temporary. */
  finish(): void {
    if (this.own && !this.ownIsInput && this.buf !== this.own) this.own.set(this.buf!.subarray(0, this.blockLength) as never);
  }

  async send(dest: number, first: number, count: number): Promise<void> {
    const run = this.run(first, count);
    if (run) return this.ch.send(run, dest, this.tag);
    const staged = newLike(this.buf!, count * this.blockLength);
    this.copyWrapped(first, count, staged, 'out');
    return this.ch.send(staged, dest, this.tag);
  }

  async recv(source: number, first: number, count: number): Promise<void> {
    const run = this.run(first, count);
    if (run) return recvExact(this.ch, run, source, this.tag);
    const staged = newLike(this.buf!, count * this.blockLength);
    await recvExact(this.ch, staged, source, this.tag);
    this.copyWrapped(first, count, staged, 'in');
  }

  /** The run as one view of `buf`, or undefined if it wraps past the end of a full buffer. */
  private run(first: number, count: number): TypedArray | undefined {
    const size = this.ch.size;
    const offset = (first - this.base + size) % size;
    if (this.own !== undefined) {
      // A window: the algorithm only ever names runs inside what it said it would hold.
      if (this.buf === undefined || offset + count > this.held) {
        throw tsmpiError('TSMPI_ERR_INTERN', `blocks ${first}+${count} outside the window ${this.base}+${this.held}`);
      }
    } else if (offset + count > size) {
      return undefined;
    }
    return this.buf!.subarray(offset * this.blockLength, (offset + count) * this.blockLength);
  }

  private copyWrapped(first: number, count: number, staged: TypedArray, direction: 'in' | 'out'): void {
    const size = this.ch.size;
    const bl = this.blockLength;
    const headBlocks = size - first; // blocks first … size-1, then 0 … count-headBlocks-1
    const head = this.buf!.subarray(first * bl, size * bl);
    const tail = this.buf!.subarray(0, (count - headBlocks) * bl);
    if (direction === 'out') {
      staged.set(head as never, 0);
      staged.set(tail as never, headBlocks * bl);
    } else {
      head.set(staged.subarray(0, headBlocks * bl) as never);
      tail.set(staged.subarray(headBlocks * bl) as never);
    }
  }
}

/** Blocks of any length at any displacement (the v-variants); runs are single blocks. */
export class VectorBlocks implements BlockStore {
  constructor(
    private readonly ch: CollChannel,
    private readonly tag: number,
    private readonly buf: TypedArray,
    private readonly counts: readonly number[],
    private readonly displs: readonly number[],
  ) {}

  hold(): void {}

  send(dest: number, first: number, count: number): Promise<void> {
    return this.ch.send(this.block(first, count), dest, this.tag);
  }

  recv(source: number, first: number, count: number): Promise<void> {
    return recvExact(this.ch, this.block(first, count), source, this.tag);
  }

  private block(rank: number, count: number): TypedArray {
    if (count !== 1) throw tsmpiError('TSMPI_ERR_INTERN', 'v-variant blocks move one at a time');
    return this.buf.subarray(this.displs[rank]!, this.displs[rank]! + this.counts[rank]!);
  }
}

/**
 * Objects, each encoded once by the rank that contributes it and forwarded as bytes: a run of one is
 * sent as that object's own encoding; a longer run as the codec's encoding of the list of encodings.
 */
export class ObjectBlocks implements BlockStore {
  private readonly encoded: (Uint8Array | undefined)[];

  constructor(
    private readonly ch: CollChannel,
    private readonly tag: number,
  ) {
    this.encoded = new Array<Uint8Array | undefined>(ch.size);
  }

  put(rank: number, value: unknown): void {
    this.encoded[rank] = joinParts(this.ch.encode(value));
  }

  take(rank: number): unknown {
    return this.ch.decode(this.encoded[rank]!);
  }

  hold(): void {}

  send(dest: number, first: number, count: number): Promise<void> {
    const runs = this.ranks(first, count).map((rank) => this.encoded[rank]!);
    return this.ch.sendEncoded(count === 1 ? runs : this.ch.encode(runs), dest, this.tag);
  }

  async recv(source: number, first: number, count: number): Promise<void> {
    const bytes = await this.ch.recvEncoded(source, this.tag);
    const ranks = this.ranks(first, count);
    if (count === 1) {
      this.encoded[first] = bytes;
      return;
    }
    const list = this.ch.decode(bytes);
    if (!Array.isArray(list) || list.length !== count || !list.every((item) => item instanceof Uint8Array)) {
      throw tsmpiError('TSMPI_ERR_PROTOCOL', `expected ${count} encoded objects from rank ${source}`);
    }
    ranks.forEach((rank, i) => (this.encoded[rank] = list[i] as Uint8Array));
  }

  private ranks(first: number, count: number): number[] {
    return Array.from({ length: count }, (_, i) => (first + i) % this.ch.size);
  }
}
