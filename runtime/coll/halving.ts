// The recursive-halving reduce-scatter phase shared by Rabenseifner's allreduce and reduce (MPICH
// allreduce_intra_reduce_scatter_allgather / reduce_intra_reduce_scatter_gather): over the butterfly
// of Fold, the buffer is cut into 2^⌊lg p⌋ blocks; in step k (distance 2^k) partners split the block
// range they still share, each sends the half it gives up and folds the half it keeps with what the
// partner sent (lower butterfly rank on the left). Each block is thus reduced once, over adjacent
// aligned rank ranges, so rank order is kept and the result does not depend on which rank computed it.
// Cost of the phase: lg p'·α + ((p'−1)/p')·n·(β + γ), p' = 2^⌊lg p⌋.
import type { TypedArray } from '../wire/dtype.js';
import type { CollChannel } from './channel.js';
import type { TypedKernel } from './ops.js';
import { giveScratch, takeScratch } from './scratch.js';
import { exchange } from './relay.js';
import type { Fold, Split } from './topology.js';

/** One halving step, kept so the allgather/gather phase can retrace it backwards. */
export interface HalvingStep {
  readonly partner: number;
  /** Block range [lo, hi) the two partners shared before the step. */
  readonly lo: number;
  readonly hi: number;
  /** Whether this rank kept the lower half [lo, mid). */
  readonly keptLower: boolean;
}

/** Elements of blocks [lo, hi) as a view of `buf`. */
export function blockRange(buf: TypedArray, blocks: Split, lo: number, hi: number): TypedArray {
  return buf.subarray(blocks.displs[lo]!, blocks.displs[lo]! + blocks.lengthOf(lo, hi));
}

/**
 * Runs the halving on butterfly member `fold` (which must not sit out) over `acc`, which holds this
 * rank's contribution (already folded with its sitting-out partner's) — or, when `input` is given,
 * over `input` as the contribution, whose first step writes its kept half into `acc` (so `acc` need
 * not be a copy of the input first: one pass over n elements less). Returns the steps taken; on
 * return, the last step's kept half of `acc` holds the full reduction of that block.
 */
export async function halvingReduceScatter(
  ch: CollChannel,
  tag: number,
  fold: Fold,
  blocks: Split,
  acc: TypedArray,
  kernel: TypedKernel,
  scratch?: TypedArray,
  input?: TypedArray,
): Promise<HalvingStep[]> {
  const steps: HalvingStep[] = [];
  const largestHalf = blocks.lengthOf(0, fold.pof2 >> 1);
  const own = scratch && scratch.length >= largestHalf ? undefined : takeScratch(acc, largestHalf);
  const done = await halvingSteps(ch, tag, fold, blocks, acc, kernel, (own ?? scratch)!, input, steps);
  // Only after success: a failed exchange may leave a receive posted into the scratch buffer.
  giveScratch(own);
  return done;
}

async function halvingSteps(
  ch: CollChannel,
  tag: number,
  fold: Fold,
  blocks: Split,
  acc: TypedArray,
  kernel: TypedKernel,
  incoming: TypedArray,
  input: TypedArray | undefined,
  steps: HalvingStep[],
): Promise<HalvingStep[]> {
  let src = input ?? acc;
  let lo = 0;
  let hi = fold.pof2;
  for (let mask = 1; mask < fold.pof2; mask <<= 1) {
    const partnerButterfly = fold.butterflyRank ^ mask;
    const partner = fold.realRank(partnerButterfly);
    const mid = (lo + hi) >> 1;
    const keptLower = fold.butterflyRank < partnerButterfly;
    const [keepLo, keepHi, giveLo, giveHi] = keptLower ? [lo, mid, mid, hi] : [mid, hi, lo, mid];
    const keep = blockRange(acc, blocks, keepLo, keepHi);
    const mine = src === acc ? keep : blockRange(src, blocks, keepLo, keepHi);
    const into = incoming.subarray(0, keep.length);
    await exchange(ch, blockRange(src, blocks, giveLo, giveHi), partner, into, partner, tag);
    if (keptLower) kernel(keep, mine, into);
    else kernel(keep, into, mine);
    src = acc;
    steps.push({ partner, lo, hi, keptLower });
    lo = keepLo;
    hi = keepHi;
  }
  return steps;
}

/** The halves of a step: [mine, theirs] as block ranges. */
export function stepHalves(step: HalvingStep): [[number, number], [number, number]] {
  const mid = (step.lo + step.hi) >> 1;
  return step.keptLower
    ? [[step.lo, mid], [mid, step.hi]]
    : [[mid, step.hi], [step.lo, mid]];
}
