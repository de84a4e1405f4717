// Ring allgather (MPICH allgather_intra_ring): in step s every rank passes the block it received in step
// s−1 (its own at s = 0) to its right neighbour and receives the next one from its left. Objects are
// encoded once by their owner and forwarded as bytes.
// Chosen: typed totals of at least ALLGATHER_SHORT_MSG_BYTES (non-power-of-two p) or
// ALLGATHER_LONG_MSG_BYTES (power-of-two p); always for Allgatherv (blocks move one at a time, so
// blocks of any size and place work).
// Cost: (p−1)·α + ((p−1)/p)·N·β — bandwidth-optimal, only neighbour links; p−1 messages per rank. Any p.
import type { BlockStore } from './blocks.js';
import type { CollChannel } from './channel.js';
import { relayFailures } from './relay.js';

export function ringPeers(rank: number, size: number): number[] {
  return [(rank + 1) % size];
}

export function allgatherRing(ch: CollChannel, tag: number, store: BlockStore): Promise<void> {
  const { rank, size } = ch;
  const right = (rank + 1) % size;
  const left = (rank - 1 + size) % size;
  return relayFailures(ch, tag, ringPeers(rank, size), undefined, async () => {
    for (let step = 0; step < size - 1; step++) {
      await Promise.all([
        store.send(right, (rank - step + size) % size, 1),
        store.recv(left, (rank - step - 1 + size) % size, 1),
      ]);
    }
  });
}
