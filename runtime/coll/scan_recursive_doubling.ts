// Recursive-doubling scan and exscan (MPICH scan_intra_recursive_doubling / exscan_intra_recursive_doubling):
// in step k rank r swaps with r XOR 2^k (when it exists) the reduction of its aligned block of 2^k
// ranks; both extend that block, and the higher one also folds what it got into its prefix. Blocks
// are adjacent rank ranges folded lower-on-the-left, so rank order is kept for non-commutative ops.
// Chosen: always (SCAN, EXSCAN; both families).
// Cost: ⌈lg p⌉·(α + n·β) + 2·⌈lg p⌉·n·γ; at most ⌈lg p⌉ messages per rank. Any p.
import type { CollChannel } from './channel.js';
import type { Reduction } from './payload.js';
import { relayFailures } from './relay.js';

export function scanPeers(rank: number, size: number): number[] {
  const peers: number[] = [];
  for (let mask = 1; mask < size; mask <<= 1) if ((rank ^ mask) < size) peers.push(rank ^ mask);
  return peers;
}

/**
 * Inclusive (op over ranks 0 … rank) or exclusive (ranks 0 … rank−1; undefined on rank 0) prefix
 * reduction of `value`; typed results land in `output`.
 */
export function scanRecursiveDoubling<V>(
  ch: CollChannel,
  tag: number,
  red: Reduction<V>,
  value: V,
  exclusive: boolean,
  output?: V,
): Promise<V | undefined> {
  const { rank } = ch;
  const partners = scanPeers(rank, ch.size);
  return relayFailures(ch, tag, partners, undefined, async () => {
    let block = red.copy(value); // reduction over this rank's aligned block so far: what it sends
    let prefix = exclusive ? undefined : red.copy(value, output);
    for (const partner of partners) {
      const [, incoming] = await Promise.all([red.send(block, partner), red.recv(partner)]);
      if (partner < rank) {
        // `incoming` is folded twice; give the first fold a copy if the op may alter its operand.
        const forPrefix = red.foldMayAlterIncoming ? red.copy(incoming) : incoming;
        prefix = prefix === undefined ? red.copy(forPrefix, output) : red.fold(prefix, forPrefix, true);
        block = red.fold(block, incoming, true);
      } else {
        block = red.fold(block, incoming, false);
      }
    }
    return prefix;
  });
}
