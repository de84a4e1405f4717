// Context ids of the communicators this rank belongs to. A new communicator's id is agreed by its
// parent's members: each offers the slots it has free (a bit mask), a BAND allreduce keeps the slots
// free on all of them, and the lowest one is taken. Members of disjoint groups may pick the same
// slot, which is harmless: no rank is in both. A slot carries two contexts, point-to-point (2s) and
// collective (2s + 1), so collectives never match user messages.

const SLOTS = 2048;
/** Slots 0 and 1: COMM_WORLD (contexts 0, 1) and COMM_SELF (2, 3). */
const RESERVED_SLOTS = 2;

export class ContextIds {
  private readonly free = new Uint8Array(SLOTS / 8).fill(0xff);
  /** Agreements run one at a time per process, so two concurrent ones never take the same slot. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor() {
    for (let s = 0; s < RESERVED_SLOTS; s++) this.take(s);
  }

  /** This rank's offer: a copy of its free-slot mask. */
  offer(): Uint8Array {
    return this.free.slice();
  }

  /** The lowest slot free on every member (the BAND of all offers), or -1 when none is. */
  static lowest(common: Uint8Array): number {
    for (let byte = 0; byte < common.length; byte++) {
      const bits = common[byte]!;
      if (bits !== 0) return byte * 8 + (31 - Math.clz32(bits & -bits));
    }
    return -1;
  }

  take(slot: number): void {
    this.free[slot >> 3]! &= ~(1 << (slot & 7));
  }

  release(slot: number): void {
    if (slot >= RESERVED_SLOTS) this.free[slot >> 3]! |= 1 << (slot & 7);
  }

  /** Runs one agreement after the previous ones of this process finished. */
  serialize<T>(agreement: () => Promise<T>): Promise<T> {
    const run = this.queue.then(agreement, agreement);
    this.queue = run.catch(() => undefined);
    return run;
  }
}
