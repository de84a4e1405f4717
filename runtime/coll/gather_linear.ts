// Linear gather: every rank sends its block straight to the root, which receives them all at once.
// Chosen: only when forced (TSMPI_COLL_GATHER=linear), and for Gatherv (blocks of arbitrary size and
// place cannot be forwarded as one contiguous subtree run).
// Cost: (p−1)·α + ((p−1)/p)·N·β at the root; one message per non-root rank.
import type { BlockStore } from './blocks.js';
import type { CollChannel } from './channel.js';
import { relayFailures } from './relay.js';

export function gatherLinearPeers(rank: number, root: number): number[] {
  return rank === root ? [] : [root];
}

export function gatherLinear(ch: CollChannel, root: number, tag: number, store: BlockStore): Promise<void> {
  const { rank, size } = ch;
  return relayFailures(ch, tag, gatherLinearPeers(rank, root), undefined, async () => {
    store.hold(rank, 1);
    if (rank !== root) return store.send(root, rank, 1);
    const sources = Array.from({ length: size - 1 }, (_, i) => (root + 1 + i) % size);
    await Promise.all(sources.map((source) => store.recv(source, source, 1)));
  });
}
