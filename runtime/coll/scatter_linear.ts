// Linear scatter: the root sends every other rank its block directly (all sends in flight at once).
// Chosen: only when forced (TSMPI_COLL_SCATTER=linear), and for Scatterv, whose blocks of arbitrary
// size and place cannot be forwarded as one contiguous subtree run.
// Cost: (p−1)·α + ((p−1)/p)·N·β at the root, all serialized on the root's link; p−1 messages at the root.
import type { BlockStore } from './blocks.js';
import type { CollChannel } from './channel.js';
import { relayFailures } from './relay.js';

/** The root sends to everyone; the others send nothing. */
export function rootToAllPeers(rank: number, size: number, root: number): number[] {
  return rank === root ? Array.from({ length: size }, (_, r) => r).filter((r) => r !== root) : [];
}

export function scatterLinear(ch: CollChannel, root: number, tag: number, store: BlockStore): Promise<void> {
  const { rank, size } = ch;
  const peers = rootToAllPeers(rank, size, root);
  return relayFailures(ch, tag, peers, undefined, async () => {
    if (rank !== root) {
      store.hold(rank, 1);
      await store.recv(root, rank, 1);
      return;
    }
    // Start with the rank after the root so that not every root begins with rank 0.
    const order = Array.from({ length: size - 1 }, (_, i) => (root + 1 + i) % size);
    await Promise.all(order.map((dest) => store.send(dest, dest, 1)));
  });
}
