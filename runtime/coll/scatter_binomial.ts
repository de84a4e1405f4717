// Binomial-tree scatter (MPICH scatter_intra_binomial): the root sends each child the blocks of the
// child's whole subtree in one message; each rank keeps its block and forwards the rest. Objects are
// encoded once at the root and forwarded as bytes.
// Chosen: by default (SCATTER / both families).
// Cost: ⌈lg p⌉·α + ((p−1)/p)·N·β for N the root's total; ≤ ⌈lg p⌉ messages per rank. Interior ranks
// hold their subtree's blocks in a temporary. Any p, any root.
import type { BlockStore } from './blocks.js';
import { binomialChildren } from './bcast_binomial.js';
import type { CollChannel } from './channel.js';
import { relayFailures } from './relay.js';
import { absoluteRank, binomialNode, relativeRank } from './topology.js';

export function scatterBinomial(ch: CollChannel, root: number, tag: number, store: BlockStore): Promise<void> {
  const { rank, size } = ch;
  const node = binomialNode(relativeRank(rank, root, size), size);
  return relayFailures(ch, tag, binomialChildren(rank, size, root), undefined, async () => {
    store.hold(rank, node.span);
    if (node.parent >= 0) await store.recv(absoluteRank(node.parent, root, size), rank, node.span);
    await Promise.all(
      node.children.map((e) => {
        const child = absoluteRank(e.child, root, size);
        return store.send(child, child, e.span);
      }),
    );
  });
}
