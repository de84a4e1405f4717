// Bad input to the collectives: every error fails at the call (before any data is sent) with its
// stable code, and an error only some ranks can see still ends the collective on every rank that
// would wait for them (error markers along the algorithm's edges) — never a hang (the fake world's
// watchdog turns one into a test failure).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as coll from '../../runtime/coll/api.js';
import * as ops from '../../runtime/coll/ops.js';
import { COLL_ALGORITHMS, resetSelection, type CollName } from '../../runtime/coll/select.js';
import { IN_PLACE } from '../../runtime/constants.js';
import { isTsmpiError } from '../../runtime/errors.js';
import { ranks, runWorld, SIZES, type FakeChannel } from './fake-channel.js';

/** Each rank's outcome: 'ok' or its error code; plus how many data messages were sent in all. */
async function outcomes(p: number, body: (ch: FakeChannel, rank: number) => Promise<unknown>) {
  const { results, world } = await runWorld(p, body);
  const codes = results.map((r) => {
    if (r.status === 'fulfilled') return 'ok';
    return isTsmpiError(r.reason) ? r.reason.code : `not a TsmpiError: ${String(r.reason)}`;
  });
  return { codes, dataSent: world.sent.reduce((a, b) => a + b, 0) };
}

const everywhere = (p: number, code: string) => ranks(p).map(() => code);

function forEachAlgorithm(name: CollName, body: (algorithm: string) => void): void {
  describe.each(COLL_ALGORITHMS[name] as readonly string[])(`${name} forced to %s`, (algorithm) => {
    beforeAll(() => resetSelection({ [`TSMPI_COLL_${name.toUpperCase()}`]: algorithm }));
    afterAll(() => resetSelection({}));
    body(algorithm);
  });
}

describe('root out of range fails on every rank before anything is sent', () => {
  const rooted: [string, (ch: FakeChannel, root: number) => Promise<unknown>][] = [
    ['bcast', (ch, root) => coll.bcast(ch, 1, root, 1)],
    ['Bcast', (ch, root) => coll.Bcast(ch, new Int32Array(2), root, 1)],
    ['scatter', (ch, root) => coll.scatter(ch, ranks(ch.size), root, 1)],
    ['Scatter', (ch, root) => coll.Scatter(ch, new Int32Array(ch.size), new Int32Array(1), root, 1)],
    ['gather', (ch, root) => coll.gather(ch, 1, root, 1)],
    ['Gather', (ch, root) => coll.Gather(ch, new Int32Array(1), new Int32Array(ch.size), root, 1)],
    ['reduce', (ch, root) => coll.reduce(ch, 1, ops.SUM, root, 1)],
    ['Reduce', (ch, root) => coll.Reduce(ch, new Int32Array(1), new Int32Array(1), ops.SUM, root, 1)],
    ['Scatterv', (ch, root) => coll.Scatterv(ch, [new Int32Array(ch.size), ranks(ch.size).map(() => 1)], new Int32Array(1), root, 1)],
    ['Gatherv', (ch, root) => coll.Gatherv(ch, new Int32Array(1), [new Int32Array(ch.size), ranks(ch.size).map(() => 1)], root, 1)],
  ];
  it.each(rooted)('%s', async (_name, call) => {
    for (const p of SIZES) {
      for (const root of [-1, p, 0.5, Number.NaN, '0' as unknown as number]) {
        const { codes, dataSent } = await outcomes(p, (ch) => call(ch, root));
        expect(codes).toEqual(everywhere(p, 'TSMPI_ERR_ROOT'));
        expect(dataSent).toBe(0);
      }
    }
  });
});

forEachAlgorithm('scatter', () => {
  it.each(SIZES)('scatter, p=%i: a list of the wrong length at the root fails with TSMPI_ERR_COUNT on every rank', async (p) => {
    for (const root of ranks(p)) {
      for (const length of [p - 1, p + 1]) {
        const { codes, dataSent } = await outcomes(p, (ch, r) => coll.scatter(ch, r === root ? ranks(length) : undefined, root, 1));
        expect(codes).toEqual(everywhere(p, 'TSMPI_ERR_COUNT'));
        expect(dataSent).toBe(0);
      }
      const notAList = await outcomes(p, (ch, r) => coll.scatter(ch, r === root ? ('abc' as never) : undefined, root, 1));
      expect(notAList.codes).toEqual(everywhere(p, 'TSMPI_ERR_TYPE'));
    }
  });

  it.each(SIZES)('Scatter, p=%i: a root sendbuf of the wrong size fails with TSMPI_ERR_COUNT on every rank', async (p) => {
    for (const root of ranks(p)) {
      const { codes, dataSent } = await outcomes(p, (ch, r) =>
        coll.Scatter(ch, r === root ? new Float64Array(2 * p + 1) : null, new Float64Array(2), root, 1),
      );
      expect(codes).toEqual(everywhere(p, 'TSMPI_ERR_COUNT'));
      expect(dataSent).toBe(0);
      const kinds = await outcomes(p, (ch, r) => coll.Scatter(ch, r === root ? new Int32Array(2 * p) : null, new Float64Array(2), root, 1));
      expect(kinds.codes).toEqual(everywhere(p, 'TSMPI_ERR_TYPE'));
    }
  });
});

describe('Scatterv at the root', () => {
  it.each(SIZES)('p=%i: bad counts or displacements fail with TSMPI_ERR_COUNT on every rank', async (p) => {
    const bad: [string, (root: number) => coll.VectorSpec][] = [
      ['too few counts', () => [new Int32Array(p), ranks(p - 1).map(() => 1)]],
      ['a negative count', () => [new Int32Array(p), ranks(p).map((r) => (r === 0 ? -1 : 1))]],
      ['a block past the end', () => [new Int32Array(p), ranks(p).map(() => 1), ranks(p).map((r) => r + 1)]],
    ];
    for (const [, spec] of bad) {
      for (const root of ranks(p)) {
        const { codes } = await outcomes(p, (ch, r) => coll.Scatterv(ch, r === root ? spec(root) : null, new Int32Array(1), root, 1));
        expect(codes).toEqual(everywhere(p, 'TSMPI_ERR_COUNT'));
      }
    }
  });
});

describe('one rank\'s buffer does not fit the root\'s: the call fails on every rank', () => {
  it.each(SIZES.filter((p) => p > 1))('p=%i: Scatter and Scatterv with a non-root recvbuf of another length', async (p) => {
    for (const root of ranks(p)) {
      const odd = (root + 1) % p;
      const scatter = await outcomes(p, (ch, r) => coll.Scatter(ch, r === root ? new Int32Array(2 * p) : null, new Int32Array(r === odd ? 3 : 2), root, 1));
      expect(scatter.codes).toEqual(everywhere(p, 'TSMPI_ERR_COUNT'));
      const counts = ranks(p).map(() => 2);
      const scatterv = await outcomes(p, (ch, r) => coll.Scatterv(ch, r === root ? [new Int32Array(2 * p), counts] : null, new Int32Array(r === odd ? 1 : 2), root, 1));
      expect(scatterv.codes).toEqual(everywhere(p, 'TSMPI_ERR_COUNT'));
    }
  });

  it.each(SIZES.filter((p) => p > 1))('p=%i: Gatherv with a root spec that does not fit a sender\'s block, and a typed scan with one short buffer', async (p) => {
    for (const root of ranks(p)) {
      const gatherv = await outcomes(p, (ch, r) => coll.Gatherv(ch, new Int32Array(2), r === root ? [new Int32Array(2 * p), ranks(p).map((q) => (q === (root + 1) % p ? 1 : 2))] : null, root, 1));
      expect(gatherv.codes.every((c) => c === 'TSMPI_ERR_COUNT' || c === 'TSMPI_ERR_TRUNCATE')).toBe(true);
      expect(new Set(gatherv.codes).size).toBe(1);
    }
    const scan = await outcomes(p, (ch, r) => coll.Scan(ch, new Int32Array(r === 0 ? 1 : 2), new Int32Array(r === 0 ? 1 : 2), ops.SUM, 1));
    // Two ranks may see the mismatch first, each with its own code; every rank fails.
    expect(scan.codes.every((c) => c === 'TSMPI_ERR_COUNT' || c === 'TSMPI_ERR_TRUNCATE')).toBe(true);
  });
});

forEachAlgorithm('bcast', () => {
  it.each(SIZES)('Bcast, p=%i: a root buffer that is not a typed array fails with TSMPI_ERR_TYPE on every rank', async (p) => {
    for (const root of ranks(p)) {
      const { codes } = await outcomes(p, (ch, r) => coll.Bcast(ch, r === root ? ([1, 2] as never) : new Int32Array(2), root, 1));
      expect(codes).toEqual(everywhere(p, 'TSMPI_ERR_TYPE'));
    }
  });

  it.each(SIZES.filter((p) => p > 1))('Bcast, p=%i: one non-root\'s buffer of another length or type fails the call on every rank, before any data moves', async (p) => {
    for (const root of ranks(p)) {
      for (const odd of ranks(p).filter((r) => r !== root)) {
        const short = await outcomes(p, (ch, r) => coll.Bcast(ch, new Float64Array(r === odd ? 3 : 4), root, 1));
        expect(short.codes).toEqual(everywhere(p, 'TSMPI_ERR_COUNT'));
        expect(short.dataSent).toBe(0);
        const kind = await outcomes(p, (ch, r) => coll.Bcast(ch, r === odd ? new Float32Array(4) : new Float64Array(4), root, 1));
        expect(kind.codes).toEqual(everywhere(p, 'TSMPI_ERR_TYPE'));
      }
    }
  });

  it.each(SIZES)('bcast, p=%i: an object the codec cannot encode fails on every rank', async (p) => {
    // (With one rank nothing is encoded: the root gets its own object back.)
    const { codes } = await outcomes(p, (ch, r) => coll.bcast(ch, r === 0 ? { f: () => 1 } : undefined, 0, 1));
    expect(codes.every((c) => c !== 'ok')).toBe(p > 1);
  });
});

forEachAlgorithm('allgather', () => {
  it.each(SIZES)('Allgather, p=%i: a recvbuf of the wrong size, on every rank or on one, fails everywhere', async (p) => {
    const all = await outcomes(p, (ch) => coll.Allgather(ch, new Int16Array(2), new Int16Array(2 * p + 1), 1));
    expect(all.codes).toEqual(everywhere(p, 'TSMPI_ERR_COUNT'));
    expect(all.dataSent).toBe(0);
    const one = await outcomes(p, (ch, r) => coll.Allgather(ch, new Int16Array(2), new Int16Array(r === p - 1 ? 2 * p - 1 : 2 * p), 1));
    expect(one.codes).toEqual(everywhere(p, 'TSMPI_ERR_COUNT'));
    const kinds = await outcomes(p, (ch, r) => coll.Allgather(ch, r === 0 ? new Int32Array(2) : new Int16Array(2), new Int16Array(2 * p), 1));
    expect(kinds.codes[0]).toBe('TSMPI_ERR_TYPE');
    expect(kinds.codes.every((c) => c !== 'ok')).toBe(true);
  });

  it.each(SIZES)('allgather, p=%i: an object one rank cannot encode fails everywhere', async (p) => {
    const { codes } = await outcomes(p, (ch, r) => coll.allgather(ch, r === p - 1 ? Symbol('x') : r, 1));
    expect(codes.every((c) => c !== 'ok')).toBe(true);
  });
});

forEachAlgorithm('alltoall', () => {
  it.each(SIZES)('p=%i: buffers or lists of the wrong length on one rank fail everywhere', async (p) => {
    const typed = await outcomes(p, (ch, r) => coll.Alltoall(ch, new Uint8Array(r === 0 ? p + 1 : p), new Uint8Array(p), 1));
    expect(typed.codes).toEqual(everywhere(p, 'TSMPI_ERR_COUNT'));
    const objects = await outcomes(p, (ch, r) => coll.alltoall(ch, ranks(r === p - 1 ? p + 1 : p), 1));
    expect(objects.codes).toEqual(everywhere(p, 'TSMPI_ERR_COUNT'));
  });
});

forEachAlgorithm('allreduce', () => {
  it.each(SIZES)('Allreduce, p=%i: op, kind and size errors fail everywhere with their code', async (p) => {
    const cases: [string, (ch: FakeChannel, r: number) => Promise<unknown>][] = [
      ['TSMPI_ERR_OP', (ch) => coll.Allreduce(ch, new Float64Array(4), new Float64Array(4), ops.BAND, 1)],
      ['TSMPI_ERR_OP', (ch) => coll.Allreduce(ch, new Float32Array(4), new Float32Array(4), ops.BXOR, 1)],
      ['TSMPI_ERR_OP', (ch) => coll.Allreduce(ch, new Int32Array(4), new Int32Array(4), 'sum' as never, 1)],
      ['TSMPI_ERR_TYPE', (ch) => coll.Allreduce(ch, new Int32Array(4), new Float64Array(4), ops.SUM, 1)],
      ['TSMPI_ERR_TYPE', (ch) => coll.Allreduce(ch, [1, 2, 3, 4] as never, new Float64Array(4), ops.SUM, 1)],
      ['TSMPI_ERR_COUNT', (ch) => coll.Allreduce(ch, new Int32Array(4), new Int32Array(5), ops.SUM, 1)],
      ['TSMPI_ERR_COUNT', (ch) => coll.Allreduce(ch, new Int32Array(5), new Int32Array(5), ops.MAXLOC, 1)],
      // Only one rank has the wrong size: it fails at the call, the others through its markers.
      ['TSMPI_ERR_COUNT', (ch, r) => coll.Allreduce(ch, new Int32Array(4), new Int32Array(r === 1 % p ? 5 : 4), ops.SUM, 1)],
    ];
    for (const [i, [code, call]] of cases.entries()) {
      const { codes, dataSent } = await outcomes(p, call);
      expect(codes).toEqual(everywhere(p, code));
      // Errors every rank sees stop everything before data moves; the last case's other ranks have begun.
      if (i < cases.length - 1) expect(dataSent).toBe(0);
    }
  });

  it.each(SIZES)('allreduce, p=%i: ops that do not apply fail everywhere, even when only some ranks hold the odd value', async (p) => {
    const bandOnFloats = await outcomes(p, (ch, r) => coll.allreduce(ch, r + 0.5, ops.BAND, 1));
    expect(bandOnFloats.codes).toEqual(everywhere(p, 'TSMPI_ERR_OP'));
    expect(bandOnFloats.dataSent).toBe(0);
    const sumOfObjects = await outcomes(p, (ch) => coll.allreduce(ch, { a: 1 }, ops.SUM, 1));
    expect(sumOfObjects.codes).toEqual(everywhere(p, 'TSMPI_ERR_OP'));
    if (p > 1) {
      // Each rank's own value is fine for SUM; the mix is not, which some rank finds while combining.
      const mixed = await outcomes(p, (ch, r) => coll.allreduce(ch, r === p - 1 ? 'text' : r, ops.SUM, 1));
      expect(mixed.codes).toEqual(everywhere(p, 'TSMPI_ERR_OP'));
      const throwing = await outcomes(p, (ch, r) =>
        coll.allreduce(ch, r, (a: number, b: number) => {
          if (b === p - 1) throw new Error('no');
          return a + b;
        }, 1),
      );
      expect(throwing.codes).toEqual(everywhere(p, 'TSMPI_ERR_OP'));
    }
  });
});

forEachAlgorithm('reduce', () => {
  it.each(SIZES)('p=%i: a root-only recvbuf error fails the call on every rank', async (p) => {
    for (const root of ranks(p)) {
      const { codes } = await outcomes(p, (ch, r) => coll.Reduce(ch, new Int32Array(64), r === root ? new Int32Array(63) : null, ops.SUM, root, 1));
      expect(codes).toEqual(everywhere(p, 'TSMPI_ERR_COUNT'));
      const objects = await outcomes(p, (ch, r) => coll.reduce(ch, r === root ? 1.5 : 1, ops.BOR, root, 1));
      expect(objects.codes).toEqual(everywhere(p, 'TSMPI_ERR_OP'));
    }
  });
});

forEachAlgorithm('gather', () => {
  it.each(SIZES)('Gather, p=%i: a root recvbuf of the wrong size fails the call on every rank', async (p) => {
    for (const root of ranks(p)) {
      const { codes } = await outcomes(p, (ch, r) => coll.Gather(ch, new Int32Array(2), r === root ? new Int32Array(2 * p - 1) : null, root, 1));
      expect(codes).toEqual(everywhere(p, 'TSMPI_ERR_COUNT'));
    }
  });
});

describe('scan, exscan, reduce-scatter', () => {
  it.each(SIZES)('p=%i: errors fail everywhere', async (p) => {
    const scanOp = await outcomes(p, (ch) => coll.Scan(ch, new Float64Array(2), new Float64Array(2), ops.BOR, 1));
    expect(scanOp.codes).toEqual(everywhere(p, 'TSMPI_ERR_OP'));
    const exscanPairs = await outcomes(p, (ch) => coll.Exscan(ch, new Int32Array(3), new Int32Array(3), ops.MINLOC, 1));
    expect(exscanPairs.codes).toEqual(everywhere(p, 'TSMPI_ERR_COUNT'));
    const objectScan = await outcomes(p, (ch, r) => coll.scan(ch, r === 0 ? true : 1, ops.BXOR, 1));
    expect(objectScan.codes.every((c) => c !== 'ok') || p === 1).toBe(true);
    const inPlaceNoCounts = await outcomes(p, (ch) => coll.Reduce_scatter(ch, IN_PLACE, new Int32Array(p), undefined, ops.SUM, 1));
    expect(inPlaceNoCounts.codes).toEqual(everywhere(p, 'TSMPI_ERR_COUNT'));
    const countsOff = await outcomes(p, (ch) => coll.Reduce_scatter(ch, new Int32Array(p + 1), new Int32Array(1), ranks(p).map(() => 1), ops.SUM, 1));
    expect(countsOff.codes).toEqual(everywhere(p, 'TSMPI_ERR_COUNT'));
    const blockOff = await outcomes(p, (ch) => coll.Reduce_scatter_block(ch, new Int32Array(2 * p + 1), new Int32Array(2), ops.SUM, 1));
    expect(blockOff.codes).toEqual(everywhere(p, 'TSMPI_ERR_COUNT'));
    // Without recvcounts the counts are agreed first; a rank with no typed recvbuf still fails everyone.
    const noBuffer = await outcomes(p, (ch, r) =>
      coll.Reduce_scatter(ch, new Int32Array(p), r === 0 ? (null as never) : new Int32Array(1), undefined, ops.SUM, 1),
    );
    expect(noBuffer.codes.every((c) => c !== 'ok')).toBe(true);
  });
});

describe('IN_PLACE where MPI does not allow it', () => {
  it('Scatter with IN_PLACE as a non-root recvbuf fails that rank with TSMPI_ERR_ARG; nobody hangs', async () => {
    const { codes } = await outcomes(4, (ch, r) => coll.Scatter(ch, r === 0 ? new Int32Array(4) : null, r === 2 ? IN_PLACE : new Int32Array(1), 0, 1));
    expect(codes[2]).toBe('TSMPI_ERR_ARG');
  });
  it('Reduce with IN_PLACE off the root fails with TSMPI_ERR_ARG', async () => {
    const { codes } = await outcomes(3, (ch, r) => coll.Reduce(ch, r === 1 ? IN_PLACE : new Int32Array(1), r === 0 ? new Int32Array(1) : null, ops.SUM, 0, 1));
    expect(codes[1]).toBe('TSMPI_ERR_ARG');
    expect(codes[0]).not.toBe('ok');
  });
});

describe('algorithm overrides', () => {
  afterEach(() => resetSelection({}));
  it('an unknown algorithm fails every collective call on every rank with TSMPI_ERR_ARG', async () => {
    resetSelection({ TSMPI_COLL_BCAST: 'fastest' });
    const { codes } = await outcomes(4, (ch) => coll.bcast(ch, 1, 0, 1));
    expect(codes).toEqual(everywhere(4, 'TSMPI_ERR_ARG'));
    const other = await outcomes(4, (ch) => coll.Barrier(ch, 1));
    expect(other.codes).toEqual(everywhere(4, 'TSMPI_ERR_ARG'));
  });
  it('an unknown collective name fails with TSMPI_ERR_ARG', async () => {
    resetSelection({ TSMPI_COLL_BCST: 'binomial' });
    const { codes } = await outcomes(2, (ch) => coll.allreduce(ch, 1, ops.SUM, 1));
    expect(codes).toEqual(everywhere(2, 'TSMPI_ERR_ARG'));
  });
});

describe('the fake world itself', () => {
  it('reports a hang instead of waiting forever', async () => {
    const waitForNothing = async (ch: FakeChannel) => {
      if (ch.rank === 0) await ch.recvEncoded(1, 99);
    };
    await expect(runWorld(2, waitForNothing, { hangMs: 100 })).rejects.toThrow(/hang: ranks 0 of 2/);
  });
});
