// Scatter + ring-allgather broadcast (van de Geijn; MPICH bcast_intra_scatter_ring_allgather): the
// buffer is cut into p blocks, block j belonging to relative rank j; a binomial scatter gives every
// rank its block (each subtree's blocks are one contiguous range of the buffer, so one message per
// tree edge, received straight into place), then a ring allgather circulates the blocks.
// Chosen: typed messages of at least BCAST_SHORT_MSG_BYTES on at least BCAST_MIN_PROCS ranks.
// Cost: (⌈lg p⌉ + p − 1)·α + 2·((p−1)/p)·n·β — about twice the bandwidth-optimal n·β instead of the
// binomial tree's n·⌈lg p⌉·β. Typed arrays only; any p (blocks may be empty when n < p).
import type { TypedArray } from '../wire/dtype.js';
import { binomialChildren } from './bcast_binomial.js';
import type { CollChannel } from './channel.js';
import { exchange, recvExact, relayFailures } from './relay.js';
import { absoluteRank, binomialNode, relativeRank, Split } from './topology.js';

/** Ranks this rank sends to: its scatter-tree children and its right neighbour in the ring. */
export function scatterAllgatherPeers(rank: number, size: number, root: number): number[] {
  return [...binomialChildren(rank, size, root), (rank + 1) % size];
}

export function bcastScatterAllgather(ch: CollChannel, buf: TypedArray, root: number, tag: number): Promise<void> {
  const { rank, size } = ch;
  const rel = relativeRank(rank, root, size);
  const node = binomialNode(rel, size);
  const blocks = new Split(buf.length, size);
  /** Blocks [first, first + count) of relative ranks, as one view of the buffer. */
  const run = (first: number, count: number): TypedArray =>
    buf.subarray(blocks.displs[first]!, blocks.displs[first]! + blocks.lengthOf(first, first + count));

  return relayFailures(ch, tag, scatterAllgatherPeers(rank, size, root), undefined, async () => {
    if (node.parent >= 0) await recvExact(ch, run(rel, node.span), absoluteRank(node.parent, root, size), tag);
    await Promise.all(
      node.children.map((e) => ch.send(run(e.child, e.span), absoluteRank(e.child, root, size), tag)),
    );
    const right = (rank + 1) % size;
    const left = (rank - 1 + size) % size;
    for (let step = 0; step < size - 1; step++) {
      const sendBlock = (rel - step + size) % size;
      const recvBlock = (rel - step - 1 + size) % size;
      await exchange(ch, run(sendBlock, 1), right, run(recvBlock, 1), left, tag);
    }
  });
}
