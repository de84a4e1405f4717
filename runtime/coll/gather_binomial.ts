// Binomial-tree gather (MPICH gather_intra_binomial): the mirror of the binomial scatter — every rank
// receives its children's subtree runs next to its own block and sends the whole run to its parent in
// one message. Objects are encoded once by their owner and forwarded as bytes; the root decodes each once.
// Chosen: by default (GATHER / both families).
// Cost: ⌈lg p⌉·α + ((p−1)/p)·N·β at the root; one message sent per non-root rank. Any p, any root.
import type { BlockStore } from './blocks.js';
import type { CollChannel } from './channel.js';
import { relayFailures } from './relay.js';
import { absoluteRank, binomialNode, relativeRank } from './topology.js';

/** The parent this rank sends to, if any. */
export function gatherBinomialPeers(rank: number, size: number, root: number): number[] {
  const node = binomialNode(relativeRank(rank, root, size), size);
  return node.parent < 0 ? [] : [absoluteRank(node.parent, root, size)];
}

export function gatherBinomial(ch: CollChannel, root: number, tag: number, store: BlockStore): Promise<void> {
  const { rank, size } = ch;
  const node = binomialNode(relativeRank(rank, root, size), size);
  const parent = gatherBinomialPeers(rank, size, root);
  return relayFailures(ch, tag, parent, undefined, async () => {
    store.hold(rank, node.span);
    await Promise.all(
      node.children.map((e) => {
        const child = absoluteRank(e.child, root, size);
        return store.recv(child, child, e.span);
      }),
    );
    if (parent.length) await store.send(parent[0]!, rank, node.span);
  });
}
