// Completion of the rooted collectives: without it, a rank whose part is only to send (a leaf of a
// gather or reduction tree, the root of a broadcast or scatter, the low ranks of a scan) returns as
// soon as its data left, and never learns that the call failed on a rank it did not hear from (the
// root's receive buffer too small, another rank's buffer of the wrong length, another rank calling a
// different collective). A program that catches the error on the failing rank would then go on out of
// step with the others. So every rank of a rooted collective waits for word that depends on every
// other rank:
//  - readyUp (bcast, scatter, scatterv, both families): before any data moves, every non-root reports
//    up a binomial tree rooted at the root (or straight to the root: `flat`) that it called the same
//    collective and, for typed calls, the shape of its buffer; each parent checks its subtree against
//    its own shape, the root against what it will send. The root sends data only once all are ready,
//    so the data (or the error relayed instead of it) is the verdict the non-roots wait for.
//  - verdictDown (gather, gatherv, reduce, scan, exscan): after its own part, the root (for a scan the
//    last rank, whose result depends on everyone) sends an empty message down the binomial tree; the
//    others complete when it arrives.
// An error anywhere is relayed to every rank (relay.ts) instead, and fails the wait for the word.
// Chosen: always for the collectives above (the others — barrier, allgather, alltoall, allreduce,
// reduce_scatter — already make every rank wait for data that depends on every other rank).
// Cost: ⌈lg p⌉·α per phase (flat: (p−1) messages into the root), messages of 0 or 16 bytes; one message
// sent per non-root rank.
import { tsmpiError } from '../errors.js';
import { dtypeName } from '../wire/dtype.js';
import type { CollChannel } from './channel.js';
import { relayFailures } from './relay.js';
import { absoluteRank, binomialNode, relativeRank } from './topology.js';

/** A typed buffer's element type code (dtype.ts) and element count. */
export interface Shape {
  readonly dtype: number;
  readonly length: number;
}

function describeShape(s: Shape): string {
  return `${s.length} ${dtypeName(s.dtype)} element${s.length === 1 ? '' : 's'}`;
}

/**
 * Every rank reports up to the root, before the root sends any data. `own`: this rank's buffer shape
 * (undefined: an object call, nothing to compare). At the root, `expected(rank)` is the shape rank
 * must have; elsewhere children are held to this rank's own shape.
 */
export function readyUp(
  ch: CollChannel, root: number, tag: number, name: string, own: Shape | undefined,
  expected: ((rank: number) => Shape) | undefined, flat = false,
): Promise<void> {
  const { rank, size } = ch;
  if (size === 1) return Promise.resolve();
  const rel = relativeRank(rank, root, size);
  const node = binomialNode(rel, size);
  const children = flat
    ? (rel === 0 ? Array.from({ length: size - 1 }, (_, i) => absoluteRank(i + 1, root, size)) : [])
    : node.children.map((e) => absoluteRank(e.child, root, size));
  const parent = rel === 0 ? -1 : flat ? root : absoluteRank(node.parent, root, size);
  const tellParent = (): Promise<void> | undefined =>
    parent < 0 ? undefined : ch.sendNotice(parent, tag, own && Float64Array.of(own.dtype, own.length));
  // A promise chain rather than an async body: for a small broadcast this is half its latency.
  return relayFailures(ch, tag, parent < 0 ? [] : [parent], undefined, () => {
    if (children.length === 0) return Promise.resolve(tellParent());
    const shapeChecked = async (child: number): Promise<void> => {
      const got = new Float64Array(2);
      await ch.recvNotice(child, tag, got);
      const theirs: Shape = { dtype: got[0]!, length: got[1]! };
      const want = expected ? expected(child) : own!;
      if (theirs.dtype !== want.dtype || theirs.length !== want.length) {
        const code = theirs.dtype !== want.dtype ? 'TSMPI_ERR_TYPE' : 'TSMPI_ERR_COUNT';
        const mine = expected ? `the root (rank ${rank}) sends it ${describeShape(want)}` : `rank ${rank}'s holds ${describeShape(want)}`;
        throw tsmpiError(code, `${name}: rank ${child}'s buffer holds ${describeShape(theirs)}, but ${mine}`);
      }
    };
    const shapes = own !== undefined || expected !== undefined;
    return Promise.all(children.map((child) => (shapes ? shapeChecked(child) : ch.recvNotice(child, tag)))).then(tellParent);
  });
}

/** The root's word, down the binomial tree, that the call completed everywhere; resolves when it arrived. */
export function verdictDown(ch: CollChannel, root: number, tag: number): Promise<void> {
  const { rank, size } = ch;
  if (size === 1) return Promise.resolve();
  const node = binomialNode(relativeRank(rank, root, size), size);
  const children = node.children.map((e) => absoluteRank(e.child, root, size));
  return relayFailures(ch, tag, children, undefined, async () => {
    if (node.parent >= 0) await ch.recvNotice(absoluteRank(node.parent, root, size), tag);
    await Promise.all(children.map((child) => ch.sendNotice(child, tag)));
  });
}
