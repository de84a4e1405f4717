// Rabenseifner's reduce (MPICH reduce_intra_reduce_scatter_gather): fold the extra ranks in, reduce-
// scatter by recursive halving (halving.ts), then gather to the root by retracing the halving
// backwards: in each step the partner on the root's side (same bit as the root's butterfly rank)
// receives the other's block range and the other is done. If the root itself sat out of the
// butterfly, its odd neighbour collects and hands the result over. Rank order is kept.
// Chosen: typed messages over REDUCE_SHORT_MSG_BYTES with at least 2^⌊lg p⌋ items, predefined ops.
// Cost: 2·lg p'·α + 2·((p'−1)/p')·n·β + ((p'−1)/p')·n·γ (p' = 2^⌊lg p⌋), plus n·(β + γ) to fold
// non-power-of-two p and n·β when the root sat out; at most lg p' + 1 messages sent per rank.
import type { TypedArray } from '../wire/dtype.js';
import type { CollChannel } from './channel.js';
import { blockRange, halvingReduceScatter, stepHalves } from './halving.js';
import type { TypedKernel } from './ops.js';
import { newLike } from './payload.js';
import { recvExact, relayFailures } from './relay.js';
import { Fold, Split } from './topology.js';

export function reduceRabenseifnerPeers(rank: number, size: number, root: number): number[] {
  return [...new Fold(rank, size).peers(), root];
}

/**
 * Reduces every rank's `sendbuf` into the root's `recvbuf` (at the root, sendbuf undefined means
 * IN_PLACE: the root's input is in recvbuf). Non-roots pass recvbuf undefined.
 */
export function reduceRabenseifner(
  ch: CollChannel,
  root: number,
  tag: number,
  kernel: TypedKernel,
  unit: number,
  sendbuf: TypedArray | undefined,
  recvbuf: TypedArray | undefined,
): Promise<void> {
  const { rank, size } = ch;
  const fold = new Fold(rank, size);
  const rootFold = new Fold(root, size);
  // The butterfly rank that ends up with the whole result: the root's, or its odd neighbour's.
  const collectorButterfly = rootFold.sitsOut ? new Fold(rootFold.foldPartner, size).butterflyRank : rootFold.butterflyRank;
  const collector = fold.realRank(collectorButterfly);
  const input = (sendbuf ?? recvbuf)!;

  return relayFailures(ch, tag, reduceRabenseifnerPeers(rank, size, root), undefined, async () => {
    if (fold.sitsOut) {
      await ch.send(input, fold.foldPartner, tag);
      if (rank === root) await recvExact(ch, recvbuf!, collector, tag);
      return;
    }
    const acc = rank === root ? recvbuf! : newLike(input);
    if (acc !== input) acc.set(input as never);
    let scratch: TypedArray | undefined;
    if (fold.foldPartner >= 0) {
      scratch = newLike(acc);
      await recvExact(ch, scratch, fold.foldPartner, tag);
      kernel(acc, scratch, acc);
    }
    const blocks = new Split(acc.length, fold.pof2, unit);
    const steps = await halvingReduceScatter(ch, tag, fold, blocks, acc, kernel, scratch);
    for (let i = steps.length - 1; i >= 0; i--) {
      const mask = 1 << i;
      const [mine, theirs] = stepHalves(steps[i]!);
      const partner = steps[i]!.partner;
      if ((fold.butterflyRank & mask) === (collectorButterfly & mask)) {
        await recvExact(ch, blockRange(acc, blocks, ...theirs), partner, tag);
      } else {
        await ch.send(blockRange(acc, blocks, ...mine), partner, tag);
        return;
      }
    }
    // Only the collector gets here.
    if (rank !== root) await ch.send(acc, root, tag);
  });
}
