// Scattered alltoall (MPICH alltoall_intra_scattered): every send and receive is posted at once, in the
// order rank+1, rank+2, … so that ranks do not all start with the same peer.
// Chosen: typed blocks up to ALLTOALL_MEDIUM_MSG_BYTES.
// Cost: (p−1)·α + ((p−1)/p)·N·β with all transfers overlapped (latency-bound sizes); p−1 messages per
// rank, all in flight together. Any p.
import { allOtherRanks, type PersonalizedBlocks } from './alltoall_pairwise.js';
import type { CollChannel } from './channel.js';
import { relayFailures } from './relay.js';

export function alltoallScattered(ch: CollChannel, tag: number, blocks: PersonalizedBlocks): Promise<void> {
  const { rank, size } = ch;
  const peers = allOtherRanks(rank, size);
  return relayFailures(ch, tag, peers, undefined, async () => {
    blocks.keepOwn();
    const sources = peers.map((_, i) => (rank - 1 - i + size) % size);
    await Promise.all([...peers.map((dest) => blocks.sendTo(dest)), ...sources.map((source) => blocks.recvFrom(source))]);
  });
}
