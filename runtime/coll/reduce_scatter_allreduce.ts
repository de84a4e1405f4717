// Reduce-scatter as allreduce then keep-my-segment: every rank reduces the whole input (with the
// allreduce the selection picks for that size and op) and copies out its own segment.
// Chosen: Reduce_scatter / Reduce_scatter_block with totals under REDUCE_SCATTER_LONG_MSG_BYTES, and
// always for user ops (which must see whole buffers) — it inherits the allreduce's O(lg p) messages,
// rank order and bitwise-identical results.
// Cost: that of the allreduce on the whole input (recursive doubling: lg p·(α + n·β + n·γ)), plus n of scratch.
import type { TypedArray } from '../wire/dtype.js';
import type { CollChannel } from './channel.js';
import { newLike } from './payload.js';

/** Allreduce of `input` into `output` (a fresh buffer of the same kind and length). */
export type TypedAllreduce = (input: TypedArray, output: TypedArray) => Promise<void>;

export async function reduceScatterViaAllreduce(
  ch: CollChannel,
  allreduce: TypedAllreduce,
  input: TypedArray,
  recvbuf: TypedArray,
  counts: readonly number[],
  displs: readonly number[],
): Promise<void> {
  const whole = newLike(input);
  await allreduce(input, whole);
  recvbuf.set(whole.subarray(displs[ch.rank]!, displs[ch.rank]! + counts[ch.rank]!) as never);
}
