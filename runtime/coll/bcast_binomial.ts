// Binomial-tree broadcast (MPICH bcast_intra_binomial): the root sends to the roots of its subtrees,
// largest first; every other rank receives once from its parent and forwards to its own children.
// Objects are encoded once at the root and forwarded as bytes; each rank decodes once.
// Chosen: typed messages under BCAST_SHORT_MSG_BYTES or fewer than BCAST_MIN_PROCS ranks; always for
// objects (their size is unknown off the root).
// Cost: ⌈lg p⌉·(α + n·β); at most ⌈lg p⌉ messages sent per rank. Any p, any root.
import type { CollChannel } from './channel.js';
import type { Payload } from './payload.js';
import { relayFailures } from './relay.js';
import { absoluteRank, binomialNode, relativeRank } from './topology.js';

/** The children this rank feeds in the broadcast tree (its failure-relay set). */
export function binomialChildren(rank: number, size: number, root: number): number[] {
  return binomialNode(relativeRank(rank, root, size), size).children.map((e) => absoluteRank(e.child, root, size));
}

/** Broadcasts `value` (meaningful at the root only) and resolves with it on every rank. */
export function bcastBinomial<V>(ch: CollChannel, root: number, tag: number, payload: Payload<V>, value: V | undefined): Promise<V> {
  const { rank, size } = ch;
  const node = binomialNode(relativeRank(rank, root, size), size);
  const children = binomialChildren(rank, size, root);
  // A promise chain rather than an async body: a small broadcast is all latency.
  const forward = (received: V): V | Promise<V> =>
    children.length === 0 ? received : Promise.all(children.map((child) => payload.send(received, child))).then(() => received);
  return relayFailures(ch, tag, children, undefined, () =>
    node.parent < 0 ? Promise.resolve(forward(value as V)) : payload.recv(absoluteRank(node.parent, root, size)).then(forward));
}
