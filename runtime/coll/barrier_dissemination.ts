// Dissemination barrier (Hensgen, Finkel & Manber): in round k every rank signals rank + 2^k and waits
// for rank − 2^k (mod p). After ⌈lg p⌉ rounds every rank has heard, directly or through others, from
// every rank, so no rank leaves before all have entered.
// Chosen: always (the only barrier).
// Cost: ⌈lg p⌉·α, zero-byte messages; ⌈lg p⌉ messages sent per rank. Any p.
import type { CollChannel } from './channel.js';
import { exchange, relayFailures } from './relay.js';

/** Ranks this rank signals, round by round. */
export function disseminationPeers(rank: number, size: number): number[] {
  const peers: number[] = [];
  for (let distance = 1; distance < size; distance <<= 1) peers.push((rank + distance) % size);
  return peers;
}

export function barrierDissemination(ch: CollChannel, tag: number): Promise<void> {
  const { rank, size } = ch;
  const peers = disseminationPeers(rank, size);
  return relayFailures(ch, tag, peers, undefined, async () => {
    const signal = new Uint8Array(0);
    const heard = new Uint8Array(0);
    for (let round = 0, distance = 1; distance < size; round++, distance <<= 1) {
      await exchange(ch, signal, peers[round]!, heard, (rank - distance + size) % size, tag);
    }
  });
}
