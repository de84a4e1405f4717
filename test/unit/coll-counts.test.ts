// Message counts per rank: small-message bcast, reduce, allreduce and barrier send O(lg p) messages
// per rank (checked at p = 16, 32 and a non-power-of-two 24) with the default selection; successful
// calls leave no unmatched message behind and send no error marker.
import { beforeAll, describe, expect, it } from 'vitest';
import * as coll from '../../runtime/coll/api.js';
import * as ops from '../../runtime/coll/ops.js';
import { resetSelection } from '../../runtime/coll/select.js';
import { ceilLog2 } from '../../runtime/coll/topology.js';
import { ranks, runWorld, type FakeChannel } from './fake-channel.js';

beforeAll(() => resetSelection({}));

/** Per-rank data messages of one call on a fresh world, after checking it succeeded cleanly. */
async function messagesPerRank(p: number, call: (ch: FakeChannel, rank: number) => Promise<unknown>): Promise<number[]> {
  return (await countsPerRank(p, call)).sent;
}

/** Per-rank data messages and completion notices of one call, after checking it succeeded cleanly. */
async function countsPerRank(p: number, call: (ch: FakeChannel, rank: number) => Promise<unknown>): Promise<{ sent: number[]; notices: number[] }> {
  const { results, world } = await runWorld(p, call);
  for (const r of results) if (r.status === 'rejected') throw r.reason;
  expect(world.errorsSent.every((n) => n === 0)).toBe(true);
  expect(world.unmatched()).toBe(0);
  return { sent: world.sent, notices: world.noticesSent };
}

const total = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

const SMALL: [string, (ch: FakeChannel, r: number) => Promise<unknown>][] = [
  ['Barrier', (ch) => coll.Barrier(ch, 1)],
  ['Bcast of 8 doubles', (ch) => coll.Bcast(ch, new Float64Array(8), 3, 1)],
  ['bcast of an object', (ch, r) => coll.bcast(ch, r === 3 ? { hello: 'world' } : undefined, 3, 1)],
  ['Reduce of 8 doubles, root 3', (ch, r) => coll.Reduce(ch, new Float64Array(8), r === 3 ? new Float64Array(8) : null, ops.SUM, 3, 1)],
  ['reduce of a number, root 3', (ch, r) => coll.reduce(ch, r, ops.SUM, 3, 1)],
  ['Allreduce of 8 doubles', (ch) => coll.Allreduce(ch, new Float64Array(8), new Float64Array(8), ops.SUM, 1)],
  ['allreduce of a number', (ch, r) => coll.allreduce(ch, r, ops.SUM, 1)],
  ['Scan of 8 doubles', (ch) => coll.Scan(ch, new Float64Array(8), new Float64Array(8), ops.SUM, 1)],
  ['Allgather of 1 int each', (ch, r) => coll.Allgather(ch, Int32Array.of(r), new Int32Array(ch.size), 1)],
  ['allgather of a number', (ch, r) => coll.allgather(ch, r, 1)],
];

describe.each([16, 24, 32])('p=%i', (p) => {
  it.each(SMALL)('%s sends at most ⌈lg p⌉ + 1 messages per rank', async (_name, call) => {
    const sent = await messagesPerRank(p, call);
    expect(Math.max(...sent)).toBeLessThanOrEqual(ceilLog2(p) + 1);
  });

  it('trees send one message per edge: p − 1 in all for bcast, p − 1 (+1 for a non-zero root) for reduce', async () => {
    const bcast = await countsPerRank(p, (ch) => coll.Bcast(ch, new Float64Array(8), 5, 1));
    expect(total(bcast.sent)).toBe(p - 1);
    const reduce = await countsPerRank(p, (ch, r) => coll.reduce(ch, r, ops.SUM, 5, 1));
    expect(total(reduce.sent)).toBe(p);
    // Completion (completion_binomial.ts): one notice per tree edge, up before a broadcast, down after a reduction.
    expect(total(bcast.notices)).toBe(p - 1);
    expect(total(reduce.notices)).toBe(p - 1);
    expect(Math.max(...bcast.notices, ...reduce.notices)).toBeLessThanOrEqual(ceilLog2(p));
  });
});

describe('clean success everywhere', () => {
  it('no collective leaves an unmatched message or sends an error marker', async () => {
    for (const p of [1, 3, 8]) {
      await messagesPerRank(p, async (ch, r) => {
        let tag = 1;
        await coll.barrier(ch, tag++);
        await coll.Bcast(ch, new Float64Array(100000), 0, tag++);
        await coll.scatter(ch, r === 0 ? ranks(p) : undefined, 0, tag++);
        await coll.Gather(ch, new Int8Array(3), r === 1 % p ? new Int8Array(3 * p) : null, 1 % p, tag++);
        await coll.alltoall(ch, ranks(p), tag++);
        await coll.Allreduce(ch, new Float64Array(10000), new Float64Array(10000), ops.SUM, tag++);
        await coll.Reduce(ch, new Float64Array(10000), r === 0 ? new Float64Array(10000) : null, ops.MAX, 0, tag++);
        await coll.exscan(ch, r, ops.SUM, tag++);
        await coll.Reduce_scatter_block(ch, new Int32Array(2 * p), new Int32Array(2), ops.SUM, tag++);
        await coll.Allgatherv(ch, new Int32Array(r), [new Int32Array((p * (p - 1)) / 2), ranks(p)], tag++);
      });
    }
  });
});
