// Bruck allgather (MPICH allgather_intra_brucks): in step k a rank holding the blocks of ranks
// rank … rank+2^k−1 sends them all to rank − 2^k and receives the next run from rank + 2^k, doubling
// what it holds; runs that wrap past the last rank are staged by the block store. Objects are encoded
// once by their owner and forwarded as bytes (a run as the codec's list of encodings).
// Chosen: typed totals under ALLGATHER_SHORT_MSG_BYTES on non-power-of-two p; the object allgather.
// Cost: ⌈lg p⌉·α + ((p−1)/p)·N·β (plus staging copies of wrapped runs); ⌈lg p⌉ messages per rank. Any p.
import type { BlockStore } from './blocks.js';
import type { CollChannel } from './channel.js';
import { relayFailures } from './relay.js';

export function bruckPeers(rank: number, size: number): number[] {
  const peers: number[] = [];
  for (let distance = 1; distance < size; distance <<= 1) peers.push((rank - distance + size) % size);
  return peers;
}

export function allgatherBruck(ch: CollChannel, tag: number, store: BlockStore): Promise<void> {
  const { rank, size } = ch;
  return relayFailures(ch, tag, bruckPeers(rank, size), undefined, async () => {
    for (let distance = 1; distance < size; distance <<= 1) {
      const count = Math.min(distance, size - distance);
      const from = (rank + distance) % size;
      await Promise.all([store.send((rank - distance + size) % size, rank, count), store.recv(from, from, count)]);
    }
  });
}
