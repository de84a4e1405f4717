// Ring allreduce (reduce-scatter ring + allgather ring, as in Patarasuk & Yuan / MPICH
// allreduce_intra_ring): the buffer is cut into p blocks; for p−1 steps each rank passes a partial
// block to its right neighbour and folds the one from its left, after which rank r holds block r+1
// fully reduced; p−1 more steps circulate the finished blocks. Each block is reduced once, so every
// rank gets bitwise the same result; but a block's operands are folded in ring order starting at the
// block's own rank, i.e. rotated, so this needs a commutative op (the selection uses Rabenseifner for
// one that is not, even when this one is forced).
// Chosen: typed messages of at least ALLREDUCE_RING_MIN_BYTES (off by default, as in MPICH), commutative predefined ops.
// Cost: 2·(p−1)·α + 2·((p−1)/p)·n·β + ((p−1)/p)·n·γ; 2·(p−1) messages per rank, neighbours only.
import type { TypedArray } from '../wire/dtype.js';
import type { CollChannel } from './channel.js';
import { blockRange } from './halving.js';
import type { TypedKernel } from './ops.js';
import { giveScratch, takeScratch } from './scratch.js';
import { ringPeers } from './allgather_ring.js';
import { exchange, relayFailures } from './relay.js';
import { Split } from './topology.js';

export function allreduceRing(
  ch: CollChannel,
  tag: number,
  kernel: TypedKernel,
  unit: number,
  sendbuf: TypedArray | undefined,
  recvbuf: TypedArray,
): Promise<void> {
  const { rank, size } = ch;
  const right = (rank + 1) % size;
  const left = (rank - 1 + size) % size;
  return relayFailures(ch, tag, ringPeers(rank, size), undefined, async () => {
    if (sendbuf) recvbuf.set(sendbuf as never);
    const blocks = new Split(recvbuf.length, size, unit);
    const block = (i: number): TypedArray => blockRange(recvbuf, blocks, i, i + 1);
    const incoming = takeScratch(recvbuf, blocks.counts[0]!);
    for (let step = 0; step < size - 1; step++) {
      const mine = block((rank - step - 1 + size) % size);
      const into = incoming.subarray(0, mine.length);
      await exchange(ch, block((rank - step + size) % size), right, into, left, tag);
      kernel(mine, into, mine);
    }
    giveScratch(incoming);
    for (let step = 0; step < size - 1; step++) {
      await exchange(ch, block((rank + 1 - step + size) % size), right, block((rank - step + size) % size), left, tag);
    }
  });
}
