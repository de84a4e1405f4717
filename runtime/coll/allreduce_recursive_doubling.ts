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
  // Steps chained as promise reactions rather than an async body: the allreduce of a few numbers is
  // all latency, and each step then costs one reaction after its messages.
  return relayFailures(ch, tag, fold.peers(), undefined, () => {
    if (fold.sitsOut) return red.send(value, fold.foldPartner).then(() => red.recv(fold.foldPartner, output));
    const swap = (acc: V, partner: number): Promise<V> =>
      Promise.all([red.send(acc, partner), red.recv(partner)]).then(([, incoming]) => red.fold(acc, incoming, partner < ch.rank));
    const partners = fold.partners();
    const mine = red.copy(value, output);
    let acc: Promise<V> = fold.foldPartner >= 0
      ? red.recv(fold.foldPartner).then((incoming) => red.fold(mine, incoming, true))
      : partners.length > 0 ? swap(mine, partners[0]!) : Promise.resolve(mine);
    for (let k = fold.foldPartner >= 0 ? 0 : 1; k < partners.length; k++) acc = acc.then((a) => swap(a, partners[k]!));
    if (fold.foldPartner >= 0) acc = acc.then((a) => red.send(a, fold.foldPartner).then(() => a));
    return acc;
  });
}
