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

/** The zero-byte message of every round (nothing is written into it). */
const NOTHING = new Uint8Array(0);

export function barrierDissemination(ch: CollChannel, tag: number): Promise<void> {
  const { rank, size } = ch;
  const peers = disseminationPeers(rank, size);
  return relayFailures(ch, tag, peers, undefined, () => {
    // A chain of promises rather than an async loop: a barrier is all latency, and each round then
    // costs one reaction after its exchange.
    const round = (k: number) => exchange(ch, NOTHING, peers[k]!, NOTHING, (rank - (1 << k) + size) % size, tag);
    let done = size > 1 ? round(0) : Promise.resolve();
    for (let k = 1; k < peers.length; k++) done = done.then(() => round(k));
    return done;
  });
}
