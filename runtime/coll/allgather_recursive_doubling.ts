// Recursive-doubling allgather (MPICH allgather_intra_recursive_doubling): in step k rank r swaps with
// r XOR 2^k the aligned run of 2^k blocks each holds, so both then hold the aligned run of 2^(k+1).
// Chosen: typed totals under ALLGATHER_LONG_MSG_BYTES when p is a power of two.
// Cost: lg p·α + ((p−1)/p)·N·β; lg p messages per rank, runs always contiguous (no staging).
// Restriction: p a power of two (the selection uses Bruck otherwise, even when this one is forced).
import type { BlockStore } from './blocks.js';
import type { CollChannel } from './channel.js';
import { relayFailures } from './relay.js';

export function recursiveDoublingPeers(rank: number, size: number): number[] {
  const peers: number[] = [];
  for (let mask = 1; mask < size; mask <<= 1) peers.push(rank ^ mask);
  return peers;
}

export function allgatherRecursiveDoubling(ch: CollChannel, tag: number, store: BlockStore): Promise<void> {
  const { rank, size } = ch;
  return relayFailures(ch, tag, recursiveDoublingPeers(rank, size), undefined, async () => {
    for (let mask = 1; mask < size; mask <<= 1) {
      const partner = rank ^ mask;
      const aligned = ~(mask - 1);
      await Promise.all([store.send(partner, rank & aligned, mask), store.recv(partner, partner & aligned, mask)]);
    }
  });
}
