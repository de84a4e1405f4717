// Recursive-doubling allreduce (MPICH allreduce_intra_recursive_doubling): after MPICH's fold of the
// p − 2^⌊lg p⌋ extra ranks into their odd neighbours, butterfly rank b swaps its partial result with
// b XOR 2^k in step k and both fold, lower butterfly rank on the left; the folded-out ranks get the
// result back at the end. Partners always hold adjacent, aligned rank ranges and fold them the same
// way round, so every rank computes the same expression tree: rank order is kept (non-commutative ops
// are correct) and floating-point results are bitwise identical on every rank.
// Chosen: typed messages up to ALLREDUCE_SHORT_MSG_BYTES or with fewer elements than 2^⌊lg p⌋, any
// user op (it sees whole buffers); always for objects.
// Cost: (⌊lg p⌋ + 2)·α + (⌊lg p⌋ + 2)·n·β + (⌊lg p⌋ + 1)·n·γ; at most ⌊lg p⌋ + 1 messages sent per rank.
import type { CollChannel } from './channel.js';
import type { Reduction } from './payload.js';
import { relayFailures } from './relay.js';
import { Fold } from './topology.js';

/** Reduces every rank's `value`; resolves with the result on every rank (typed: in `output`). */
export function allreduceRecursiveDoubling<V>(ch: CollChannel, tag: number, red: Reduction<V>, value: V, output?: V): Promise<V> {
  const fold = new Fold(ch.rank, ch.size);
  return relayFailures(ch, tag, fold.peers(), undefined, async () => {
    if (fold.sitsOut) {
      await red.send(value, fold.foldPartner);
      return red.recv(fold.foldPartner, output);
    }
    let acc = red.copy(value, output);
    if (fold.foldPartner >= 0) acc = red.fold(acc, await red.recv(fold.foldPartner), true);
    for (const partner of fold.partners()) {
      const [, incoming] = await Promise.all([red.send(acc, partner), red.recv(partner)]);
      acc = red.fold(acc, incoming, partner < ch.rank);
    }
    if (fold.foldPartner >= 0) await red.send(acc, fold.foldPartner);
    return acc;
  });
}
