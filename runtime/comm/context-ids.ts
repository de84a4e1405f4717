// Context ids of the communicators this rank belongs to. A new communicator's id is agreed by its
// parent's members as Open MPI does: each proposes its lowest slot that is free and not reserved by
// another agreement in flight on this process; the MAX of the proposals is the candidate; each member
// reserves it if it can, and a MIN of those answers says whether all could. If not, everyone
// releases and tries again above the candidate. The candidate only grows, so this ends; agreements
// running at the same time on one process (communicators created concurrently, in any order on
// different ranks) never wait for each other and never pick the same slot. Members of disjoint groups
// may pick the same slot, which is harmless: no rank is in both. A slot carries two contexts,
// point-to-point (2s) and collective (2s + 1), so collectives never match user messages.
//
// A freed slot may be agreed again at once, while a failed collective's error markers from the old
// communicator are still on their way (a marker to a rank whose connection is still being set up
// arrives after the rank has gone on). So each slot also remembers how far the collective tags of
// its last communicator here went, and the agreement starts the new communicator's tags above every
// member's mark: a late marker names a tag the new communicator never uses.

export const SLOTS = 2048;
/** Slots 0 and 1: COMM_WORLD (contexts 0, 1) and COMM_SELF (2, 3). */
const RESERVED_SLOTS = 2;

export class ContextIds {
  private readonly used = new Uint8Array(SLOTS);
  /** Per slot: the collective tags below this were used by a communicator of this rank on it. */
  private readonly tagsUsed = new Int32Array(SLOTS);

  constructor() {
    for (let s = 0; s < RESERVED_SLOTS; s++) this.used[s] = 1;
  }

  /** The lowest slot >= `from` neither taken nor reserved on this process, or -1. */
  lowestAvailable(from: number): number {
    for (let s = Math.max(from, 0); s < SLOTS; s++) if (this.used[s] === 0) return s;
    return -1;
  }

  /** Reserves `slot` for an agreement in flight; false when it is taken or reserved already. */
  reserve(slot: number): boolean {
    if (slot < 0 || slot >= SLOTS || this.used[slot] !== 0) return false;
    this.used[slot] = 2;
    return true;
  }

  /** Ends a reservation: the slot becomes the new communicator's (keep) or free again. */
  settle(slot: number, keep: boolean): void {
    if (this.used[slot] === 2) this.used[slot] = keep ? 1 : 0;
  }

  /** The communicator on `slot` is gone; its collective tags went up to (not including) `tagsUsed`. */
  release(slot: number, tagsUsed: number): void {
    if (slot < RESERVED_SLOTS) return;
    this.used[slot] = 0;
    this.tagsUsed[slot] = Math.max(this.tagsUsed[slot]!, tagsUsed);
  }

  /** Where a new communicator on `slot` may start its collective tags, as far as this rank knows. */
  firstFreshTag(slot: number): number {
    return this.tagsUsed[slot]!;
  }
}
