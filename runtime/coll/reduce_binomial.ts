// Binomial-tree reduce (MPICH reduce_intra_binomial): each rank receives its children's partial
// results, smallest subtree first, folds each in after its own value, and sends the result to its
// parent. Every subtree is a contiguous range of relative ranks just above its parent, so folding
// "mine, then the child's" keeps rank order when the tree is rooted at rank 0: for an op that is not
// known to commute the tree is rooted at 0 and rank 0 hands the result to the root (one extra
// message); for a commutative op it is rooted at the root itself.
// Chosen: typed messages up to REDUCE_SHORT_MSG_BYTES, any user op (it sees whole buffers); always for objects.
// Cost: ⌈lg p⌉·(α + n·β + n·γ); one message sent per rank (two at rank 0 when it relays to the root). Any p.
import type { CollChannel } from './channel.js';
import type { Reduction } from './payload.js';
import { relayFailures } from './relay.js';
import { absoluteRank, binomialNode, relativeRank } from './topology.js';

export function reduceBinomialPeers(rank: number, size: number, root: number, commute: boolean): number[] {
  const treeRoot = commute ? root : 0;
  const node = binomialNode(relativeRank(rank, treeRoot, size), size);
  const peers = node.parent < 0 ? [] : [absoluteRank(node.parent, treeRoot, size)];
  if (rank === treeRoot && rank !== root) peers.push(root);
  return peers;
}

/**
 * Reduces every rank's `value` to `root`, which resolves with the result (typed: in `output`); the
 * other ranks resolve with undefined.
 */
export function reduceBinomial<V>(
  ch: CollChannel,
  root: number,
  tag: number,
  red: Reduction<V>,
  value: V,
  commute: boolean,
  output?: V,
): Promise<V | undefined> {
  const { rank, size } = ch;
  const treeRoot = commute ? root : 0;
  const node = binomialNode(relativeRank(rank, treeRoot, size), size);
  const resultTarget = rank === root ? output : undefined;
  return relayFailures(ch, tag, reduceBinomialPeers(rank, size, root, commute), undefined, async () => {
    let acc: V | undefined; // made on the first fold: a leaf sends its value as it is
    for (let i = node.children.length - 1; i >= 0; i--) {
      const child = absoluteRank(node.children[i]!.child, treeRoot, size);
      const incoming = await red.recv(child);
      acc = red.fold(acc ?? red.copy(value, resultTarget), incoming, false);
    }
    const result = acc ?? (rank === treeRoot ? red.copy(value, resultTarget) : value);
    if (node.parent >= 0) await red.send(result, absoluteRank(node.parent, treeRoot, size));
    else if (rank !== root) await red.send(result, root);
    if (rank !== root) return undefined;
    return rank === treeRoot ? result : red.recv(treeRoot, output);
  });
}
