// Typed-array reductions (Reduce, Allreduce, Scan, Exscan, Reduce_scatter_block, Reduce_scatter) on
// the fake world: every forced algorithm × p ∈ SIZES × every root × every predefined op × every kind
// it applies to, against an independent rank-order reference; mpi4py's closed forms; zero lengths;
// IN_PLACE; non-commutative ops in rank order; inputs untouched; bitwise-identical float results.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as coll from '../../runtime/coll/api.js';
import * as ops from '../../runtime/coll/ops.js';
import { COLL_ALGORITHMS, resetSelection, type CollName } from '../../runtime/coll/select.js';
import { IN_PLACE } from '../../runtime/constants.js';
import {
  contribution, elements, fill, isLoc, KINDS, onAllRanks, OP_NAMES, opApplies, ranks, referenceReduce, SIZES,
  type Kind, type OpName,
} from './fake-channel.js';

function forEachAlgorithm(name: CollName, body: (algorithm: string) => void): void {
  describe.each(COLL_ALGORITHMS[name] as readonly string[])(`${name} forced to %s`, (algorithm) => {
    beforeAll(() => resetSelection({ [`TSMPI_COLL_${name.toUpperCase()}`]: algorithm }));
    afterAll(() => resetSelection({}));
    body(algorithm);
  });
}

/** Every (op, kind) pair the op applies to. */
const OP_KINDS: [OpName, Kind][] = OP_NAMES.flatMap((op) => KINDS.filter((k) => opApplies(op, k)).map((k) => [op, k] as [OpName, Kind]));

/** Lengths to try: 0, one shorter than most splits, one longer than any p here (pairs for MAXLOC/MINLOC). */
const lengthsFor = (op: OpName) => (isLoc(op) ? [0, 6, 38] : [0, 5, 37]);

/** 2×2 matrices [a b; c d] as Float64Array(4): products of these do not commute and stay exact. */
const matrixOf = (rank: number) => Float64Array.of(rank + 1, 1, 1, 0);
const matmul = (x: Float64Array, y: Float64Array) =>
  Float64Array.of(x[0]! * y[0]! + x[1]! * y[2]!, x[0]! * y[1]! + x[1]! * y[3]!, x[2]! * y[0]! + x[3]! * y[2]!, x[2]! * y[1]! + x[3]! * y[3]!);
const matrixProduct = (from: number, to: number) => {
  let acc = Float64Array.of(1, 0, 0, 1);
  for (let r = from; r < to; r++) acc = matmul(acc, matrixOf(r));
  return acc;
};
/** The same product as a user op on whole 4-element buffers: non-commutative and not element-wise. */
const MATMUL = ops.Op.create((a: Float64Array, b: Float64Array) => matmul(a, b), false);

forEachAlgorithm('reduce', () => {
  it.each(SIZES)('p=%i: every root × every op × every kind, against the rank-order reference', async (p) => {
    for (const root of ranks(p)) {
      for (const [opName, kind] of OP_KINDS) {
        for (const length of lengthsFor(opName)) {
          const parts = ranks(p).map((r) => contribution(kind, opName, r, length));
          const expected = referenceReduce(opName, parts);
          const got = await onAllRanks(p, async (ch, r) => {
            const sendbuf = parts[r]!.slice();
            const recvbuf = r === root ? new kind(length) : null;
            await coll.Reduce(ch, sendbuf, recvbuf, ops[opName], root, 11);
            expect(elements(sendbuf)).toEqual(elements(parts[r]!));
            return recvbuf;
          });
          expect(elements(got[root]!), `${opName} ${kind.name} n=${length} root ${root}`).toEqual(elements(expected));
        }
      }
    }
  });

  it.each(SIZES)('p=%i: IN_PLACE at the root, mpi4py closed forms, non-commutative user op', async (p) => {
    for (const root of ranks(p)) {
      const got = await onAllRanks(p, async (ch, r) => {
        const mine = Float64Array.of(r, r, 1);
        const recvbuf = r === root ? mine.slice() : null;
        await coll.Reduce(ch, r === root ? IN_PLACE : mine, recvbuf, ops.SUM, root, 1);
        const prod = r === root ? new Int32Array(1) : null;
        await coll.Reduce(ch, Int32Array.of(r), prod, ops.PROD, root, 2);
        const loc = r === root ? new Float64Array(2) : null;
        await coll.Reduce(ch, Float64Array.of(r, r), loc, ops.MAXLOC, root, 3);
        const matrix = r === root ? new Float64Array(4) : null;
        await coll.Reduce(ch, matrixOf(r), matrix, MATMUL, root, 4);
        return { sum: recvbuf, prod, loc, matrix };
      });
      const at = got[root]!;
      expect(elements(at.sum!)).toEqual([(p * (p - 1)) / 2, (p * (p - 1)) / 2, p]);
      expect(elements(at.prod!)).toEqual([p === 1 ? 0 : 0]);
      expect(elements(at.loc!)).toEqual([p - 1, p - 1]);
      expect(elements(at.matrix!)).toEqual(elements(matrixProduct(0, p)));
    }
  });
});

forEachAlgorithm('allreduce', () => {
  it.each(SIZES)('p=%i: every op × every kind, against the rank-order reference, IN_PLACE', async (p) => {
    for (const [opName, kind] of OP_KINDS) {
      for (const length of lengthsFor(opName)) {
        for (const inPlace of [false, true]) {
          const parts = ranks(p).map((r) => contribution(kind, opName, r, length));
          const expected = elements(referenceReduce(opName, parts));
          const got = await onAllRanks(p, async (ch, r) => {
            const sendbuf = parts[r]!.slice();
            const recvbuf = inPlace ? sendbuf : new kind(length);
            await coll.Allreduce(ch, inPlace ? IN_PLACE : sendbuf, recvbuf, ops[opName], 11);
            if (!inPlace) expect(elements(sendbuf)).toEqual(elements(parts[r]!));
            return recvbuf;
          });
          got.forEach((buf) => expect(elements(buf), `${opName} ${kind.name} n=${length}`).toEqual(expected));
        }
      }
    }
  });

  it.each(SIZES)('p=%i: mpi4py closed forms and a non-commutative user op, plain function too', async (p) => {
    const got = await onAllRanks(p, async (ch, r) => {
      const sum = new Int32Array(1);
      await coll.Allreduce(ch, Int32Array.of(r), sum, ops.SUM, 1);
      const prod = new Float64Array(1);
      await coll.Allreduce(ch, Float64Array.of(r), prod, ops.PROD, 2);
      const maxloc = new Int32Array(2);
      await coll.Allreduce(ch, Int32Array.of(r, r), maxloc, ops.MAXLOC, 3);
      const minloc = new Int32Array(2);
      await coll.Allreduce(ch, Int32Array.of(r, r), minloc, ops.MINLOC, 4);
      const matrix = new Float64Array(4);
      await coll.Allreduce(ch, matrixOf(r), matrix, MATMUL, 5);
      const plain = new Float64Array(4);
      await coll.Allreduce(ch, matrixOf(r), plain, (a: Float64Array, b: Float64Array) => matmul(a, b), 6);
      return [sum[0], prod[0], elements(maxloc), elements(minloc), elements(matrix), elements(plain)];
    });
    for (const g of got) {
      expect(g).toEqual([
        (p * (p - 1)) / 2,
        p === 1 ? 0 : 0,
        [p - 1, p - 1],
        [0, 0],
        elements(matrixProduct(0, p)),
        elements(matrixProduct(0, p)),
      ]);
    }
  });

  it('gives bitwise-identical floating-point results on every rank, run after run', async () => {
    // Awkward values: magnitudes 1e-300…1e300, negative zeros, subnormals, values that cancel.
    const awkward = (r: number, n: number) =>
      Float64Array.from({ length: n }, (_, i) => {
        const x = Math.sin(r * 977 + i * 131) * 10 ** (((r * 7 + i * 11) % 600) - 300);
        return i % 17 === 0 ? -0 : i % 19 === 0 ? 5e-324 * (r + 1) : i % 23 === 0 ? (r % 2 ? 1e16 : -1e16) : x;
      });
    for (const p of [3, 5, 8]) {
      for (const n of [7, 100, 1001]) {
        const runs: string[] = [];
        for (let run = 0; run < 2; run++) {
          const got = await onAllRanks(
            p,
            async (ch, r) => {
              const recvbuf = new Float64Array(n);
              await coll.Allreduce(ch, awkward(r, n), recvbuf, ops.SUM, 1);
              return Buffer.from(recvbuf.buffer).toString('hex');
            },
            { seed: run + 1 },
          );
          expect(new Set(got).size).toBe(1);
          runs.push(got[0]!);
        }
        expect(runs[1]).toBe(runs[0]);
      }
    }
  });
});

describe('scan and exscan', () => {
  it.each(SIZES)('p=%i: every op × every kind, against the rank-order reference, IN_PLACE', async (p) => {
    for (const [opName, kind] of OP_KINDS) {
      const length = isLoc(opName) ? 6 : 5;
      for (const inPlace of [false, true]) {
        const parts = ranks(p).map((r) => contribution(kind, opName, r, length));
        const got = await onAllRanks(p, async (ch, r) => {
          const scanIn = parts[r]!.slice();
          const scanOut = inPlace ? scanIn : new kind(length);
          await coll.Scan(ch, inPlace ? IN_PLACE : scanIn, scanOut, ops[opName], 1);
          const exIn = parts[r]!.slice();
          const exOut = inPlace ? exIn : fill(kind, length, () => 3);
          await coll.Exscan(ch, inPlace ? IN_PLACE : exIn, exOut, ops[opName], 2);
          if (!inPlace) expect([elements(scanIn), elements(exIn)]).toEqual([elements(parts[r]!), elements(parts[r]!)]);
          return { scanOut, exOut };
        });
        got.forEach(({ scanOut, exOut }, r) => {
          expect(elements(scanOut), `Scan ${opName} ${kind.name} rank ${r}`).toEqual(elements(referenceReduce(opName, parts.slice(0, r + 1))));
          const untouched = inPlace ? parts[0]! : fill(kind, length, () => 3);
          const expected = r === 0 ? untouched : referenceReduce(opName, parts.slice(0, r));
          expect(elements(exOut), `Exscan ${opName} ${kind.name} rank ${r}`).toEqual(elements(expected));
        });
      }
    }
  });

  it.each(SIZES)('p=%i: scan of rank is rank(rank+1)/2; non-commutative user op in rank order', async (p) => {
    const got = await onAllRanks(p, async (ch, r) => {
      const scan = new Int32Array(1);
      await coll.Scan(ch, Int32Array.of(r), scan, ops.SUM, 1);
      const exscan = new Int32Array(1);
      await coll.Exscan(ch, Int32Array.of(r), exscan, ops.SUM, 2);
      const matrix = new Float64Array(4);
      await coll.Scan(ch, matrixOf(r), matrix, MATMUL, 3);
      const exMatrix = new Float64Array(4);
      await coll.Exscan(ch, matrixOf(r), exMatrix, MATMUL, 4);
      return { scan: scan[0], exscan: exscan[0], matrix, exMatrix };
    });
    got.forEach((g, r) => {
      expect(g.scan).toBe((r * (r + 1)) / 2);
      expect(g.exscan).toBe(r === 0 ? 0 : (r * (r - 1)) / 2); // rank 0: untouched
      expect(elements(g.matrix)).toEqual(elements(matrixProduct(0, r + 1)));
      expect(elements(g.exMatrix)).toEqual(r === 0 ? [0, 0, 0, 0] : elements(matrixProduct(0, r)));
    });
  });
});

describe.each(['reduce_scatter_block', 'reduce_scatter'] as const)('%s', (name) => {
  describe.each(COLL_ALGORITHMS[name] as readonly string[])('forced to %s', (algorithm) => {
    beforeAll(() => resetSelection({ [`TSMPI_COLL_${name.toUpperCase()}`]: algorithm }));
    afterAll(() => resetSelection({}));

    /** Segment counts: equal blocks for _block, counts with zeros (and pairs for MAXLOC) otherwise. */
    const countsFor = (p: number, op: OpName, block: number) =>
      ranks(p).map((r) => (name === 'reduce_scatter_block' ? block : (r % 3 === 1 ? 0 : r + 1)) * (isLoc(op) ? 2 : 1));

    it.each(SIZES)('p=%i: every op × every kind, IN_PLACE, counts with zeros', async (p) => {
      for (const [opName, kind] of OP_KINDS) {
        for (const block of [0, 3]) {
          for (const inPlace of [false, true]) {
            const counts = countsFor(p, opName, block);
            const total = counts.reduce((n, c) => n + c, 0);
            const displs = counts.map((_, r) => counts.slice(0, r).reduce((n, c) => n + c, 0));
            const parts = ranks(p).map((r) => contribution(kind, opName, r, total));
            const full = referenceReduce(opName, parts);
            const got = await onAllRanks(p, async (ch, r) => {
              const sendbuf = parts[r]!.slice();
              const recvbuf = inPlace ? sendbuf : new kind(counts[r]!);
              const send = inPlace ? IN_PLACE : sendbuf;
              if (name === 'reduce_scatter_block') await coll.Reduce_scatter_block(ch, send, recvbuf, ops[opName], 8);
              else await coll.Reduce_scatter(ch, send, recvbuf, counts, ops[opName], 8);
              if (!inPlace) expect(elements(sendbuf)).toEqual(elements(parts[r]!));
              return recvbuf.subarray(0, counts[r]!);
            });
            got.forEach((seg, r) =>
              expect(elements(seg), `${opName} ${kind.name} rank ${r}`).toEqual(
                elements(full.subarray(displs[r]!, displs[r]! + counts[r]!)),
              ),
            );
          }
        }
      }
    });

    it.each(SIZES)('p=%i: non-commutative user op in rank order', async (p) => {
      const got = await onAllRanks(p, async (ch, r) => {
        // Every segment is one 2×2 matrix (user ops see whole buffers: the allreduce-based algorithm runs).
        const sendbuf = new Float64Array(4 * p);
        for (const j of ranks(p)) sendbuf.set(matrixOf(r + j), 4 * j);
        const recvbuf = new Float64Array(4);
        const byBlock = (a: Float64Array, b: Float64Array) => {
          const out = new Float64Array(a.length);
          for (let at = 0; at < a.length; at += 4) out.set(matmul(a.subarray(at, at + 4), b.subarray(at, at + 4)), at);
          return out;
        };
        if (name === 'reduce_scatter_block') await coll.Reduce_scatter_block(ch, sendbuf, recvbuf, byBlock, 8);
        else await coll.Reduce_scatter(ch, sendbuf, recvbuf, undefined, byBlock, 8);
        return recvbuf;
      });
      got.forEach((m, j) => {
        let acc = Float64Array.of(1, 0, 0, 1);
        for (const r of ranks(p)) acc = matmul(acc, matrixOf(r + j));
        expect(elements(m)).toEqual(elements(acc));
      });
    });
  });
});

describe('Reduce_scatter without recvcounts', () => {
  it.each(SIZES)('p=%i: counts are agreed from the recvbuf lengths', async (p) => {
    const counts = ranks(p).map((r) => r % 2);
    const total = counts.reduce((n, c) => n + c, 0);
    const got = await onAllRanks(p, async (ch, r) => {
      const recvbuf = new Int32Array(counts[r]!);
      await coll.Reduce_scatter(ch, fill(Int32Array, total, (i) => i + r), recvbuf, undefined, ops.SUM, 3);
      return elements(recvbuf);
    });
    got.forEach((seg, r) => {
      const at = counts.slice(0, r).reduce((n, c) => n + c, 0);
      expect(seg).toEqual(counts[r] ? [p * at + (p * (p - 1)) / 2] : []);
    });
  });
});
