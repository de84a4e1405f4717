// Pairwise-exchange reduce-scatter (MPICH reduce_scatter_intra_pairwise): in step i a rank sends the
// segment rank + i owns to rank + i and receives its own segment from rank − i. Unlike MPICH, which
// folds each piece as it arrives (so only for commutative ops), the p pieces are kept and folded left
// to right in rank order at the end, so non-commutative predefined ops are correct and the result
// never depends on arrival order.
// Chosen: Reduce_scatter / Reduce_scatter_block with totals of at least REDUCE_SCATTER_LONG_MSG_BYTES,
// predefined ops (a user op must see whole buffers, so it keeps the allreduce-based algorithm).
// Cost: (p−1)·α + ((p−1)/p)·n·β + ((p−1)/p)·n·γ for n the whole input; p−1 messages per rank;
// p·counts[rank] elements of scratch.
import type { TypedArray } from '../wire/dtype.js';
import { allOtherRanks } from './alltoall_pairwise.js';
import type { CollChannel } from './channel.js';
import type { TypedKernel } from './ops.js';
import { newLike } from './payload.js';
import { exchange, relayFailures } from './relay.js';

/**
 * Reduces the segments of `input` (segment j: counts[j] elements at displs[j]) across ranks; this
 * rank's segment of the result goes to recvbuf[0 … counts[rank]). `input` may be `recvbuf` (IN_PLACE).
 */
export function reduceScatterPairwise(
  ch: CollChannel,
  tag: number,
  kernel: TypedKernel,
  input: TypedArray,
  recvbuf: TypedArray,
  counts: readonly number[],
  displs: readonly number[],
): Promise<void> {
  const { rank, size } = ch;
  const segment = (j: number): TypedArray => input.subarray(displs[j]!, displs[j]! + counts[j]!);
  return relayFailures(ch, tag, allOtherRanks(rank, size), undefined, async () => {
    const length = counts[rank]!;
    const pieces = newLike(input, size * length); // piece j: rank j's contribution to this rank's segment
    const piece = (j: number): TypedArray => pieces.subarray(j * length, (j + 1) * length);
    piece(rank).set(segment(rank) as never);
    for (let step = 1; step < size; step++) {
      const dest = (rank + step) % size;
      const source = (rank - step + size) % size;
      await exchange(ch, segment(dest), dest, piece(source), source, tag);
    }
    const out = recvbuf.subarray(0, length);
    out.set(piece(0) as never);
    for (let j = 1; j < size; j++) kernel(out, out, piece(j));
  });
}
