// Rabenseifner's allreduce (MPICH allreduce_intra_reduce_scatter_allgather): fold the extra ranks in
// (as recursive doubling), reduce-scatter by recursive halving (halving.ts), allgather by retracing
// the halving backwards (recursive doubling on ever larger block ranges), unfold. Each block is
// reduced exactly once, in rank order, so results are bitwise identical on every rank and
// non-commutative predefined ops (REPLACE, NO_OP) are correct.
// Chosen: typed messages over ALLREDUCE_SHORT_MSG_BYTES with at least 2^⌊lg p⌋ items, predefined ops
// (a user op must see whole buffers, so it keeps recursive doubling even when this one is forced).
// Cost: 2·lg p'·α + 2·((p'−1)/p')·n·β + ((p'−1)/p')·n·γ (p' = 2^⌊lg p⌋), plus n·(β + γ) and
// n·β to fold and unfold non-power-of-two p; at most 2·lg p' + 1 messages sent per rank.
import type { TypedArray } from '../wire/dtype.js';
import type { CollChannel } from './channel.js';
import { blockRange, halvingReduceScatter, stepHalves } from './halving.js';
import type { TypedKernel } from './ops.js';
import { giveScratch, takeScratch } from './scratch.js';
import { exchange, recvExact, relayFailures } from './relay.js';
import { Fold, Split } from './topology.js';

/**
 * Reduces `sendbuf` (or, with IN_PLACE, `recvbuf`'s contents — pass undefined) into `recvbuf` on every
 * rank. `unit` is the op's item length (2 for MAXLOC/MINLOC pairs, which blocks must not split).
 */
export function allreduceRabenseifner(
  ch: CollChannel,
  tag: number,
  kernel: TypedKernel,
  unit: number,
  sendbuf: TypedArray | undefined,
  recvbuf: TypedArray,
): Promise<void> {
  const fold = new Fold(ch.rank, ch.size);
  return relayFailures(ch, tag, fold.peers(), undefined, async () => {
    if (fold.sitsOut) {
      await ch.send(sendbuf ?? recvbuf, fold.foldPartner, tag);
      await recvExact(ch, recvbuf, fold.foldPartner, tag);
      return;
    }
    let scratch: TypedArray | undefined;
    // Without a fold the halving reads sendbuf itself (no copy into recvbuf first).
    let input = sendbuf;
    if (fold.foldPartner >= 0) {
      scratch = takeScratch(recvbuf, recvbuf.length);
      await recvExact(ch, scratch, fold.foldPartner, tag);
      kernel(recvbuf, scratch, sendbuf ?? recvbuf);
      input = undefined;
    } else if (fold.pof2 === 1 && sendbuf) {
      recvbuf.set(sendbuf as never);
    }
    const blocks = new Split(recvbuf.length, fold.pof2, unit);
    const steps = await halvingReduceScatter(ch, tag, fold, blocks, recvbuf, kernel, scratch, input);
    giveScratch(scratch);
    for (let i = steps.length - 1; i >= 0; i--) {
      const [mine, theirs] = stepHalves(steps[i]!);
      const partner = steps[i]!.partner;
      await exchange(ch, blockRange(recvbuf, blocks, ...mine), partner, blockRange(recvbuf, blocks, ...theirs), partner, tag);
    }
    if (fold.foldPartner >= 0) await ch.send(recvbuf, fold.foldPartner, tag);
  });
}
