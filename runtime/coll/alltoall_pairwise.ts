// Pairwise-exchange alltoall (MPICH alltoall_intra_pairwise): p−1 steps, in step i a rank sends to
// rank + i and receives from rank − i (with p a power of two, both are rank XOR i), so every rank
// talks to exactly one peer at a time.
// Chosen: typed blocks over ALLTOALL_MEDIUM_MSG_BYTES; Alltoallv; the object alltoall by default.
// Cost: (p−1)·α + ((p−1)/p)·N·β; p−1 messages per rank. Any p.
import type { CollChannel } from './channel.js';
import { relayFailures } from './relay.js';

/** How an alltoall moves its blocks, whatever the family. */
export interface PersonalizedBlocks {
  /** Sends this rank's block for `dest`. */
  sendTo(dest: number): Promise<void>;
  /** Receives the block `source` has for this rank. */
  recvFrom(source: number): Promise<void>;
  /** Keeps this rank's block for itself. */
  keepOwn(): void;
}

export function allOtherRanks(rank: number, size: number): number[] {
  return Array.from({ length: size - 1 }, (_, i) => (rank + 1 + i) % size);
}

export function alltoallPairwise(ch: CollChannel, tag: number, blocks: PersonalizedBlocks): Promise<void> {
  const { rank, size } = ch;
  const xor = (size & (size - 1)) === 0;
  return relayFailures(ch, tag, allOtherRanks(rank, size), undefined, async () => {
    blocks.keepOwn();
    for (let step = 1; step < size; step++) {
      const dest = xor ? rank ^ step : (rank + step) % size;
      const source = xor ? rank ^ step : (rank - step + size) % size;
      await Promise.all([blocks.sendTo(dest), blocks.recvFrom(source)]);
    }
  });
}
