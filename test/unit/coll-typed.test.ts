// Typed-array data-movement collectives (Barrier, Bcast, Scatter, Gather, Allgather, Alltoall and the
// v-variants) on the in-process fake world: every forced algorithm × p ∈ SIZES × every root × every
// element kind, zero-length blocks, IN_PLACE, and send buffers left untouched.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as coll from '../../runtime/coll/api.js';
import { COLL_ALGORITHMS, resetSelection, type CollName } from '../../runtime/coll/select.js';
import { IN_PLACE } from '../../runtime/constants.js';
import type { TypedArray } from '../../runtime/wire/dtype.js';
import { elements, fill, KINDS, onAllRanks, ranks, SIZES, type Kind } from './fake-channel.js';

/** Runs the describe block with TSMPI_COLL_<coll> forced to each of its algorithms in turn. */
function forEachAlgorithm(name: CollName, body: (algorithm: string) => void): void {
  describe.each(COLL_ALGORITHMS[name] as readonly string[])(`${name} forced to %s`, (algorithm) => {
    beforeAll(() => resetSelection({ [`TSMPI_COLL_${name.toUpperCase()}`]: algorithm }));
    afterAll(() => resetSelection({}));
    body(algorithm);
  });
}

/** Block of rank r in a rooted/all-to-all test: distinct per (rank, element) and small for every kind. */
const blockOf = (kind: Kind, rank: number, length: number, salt = 0): TypedArray =>
  fill(kind, length, (i) => (rank * 13 + i * 5 + salt) % 100);

const concat = (kind: Kind, parts: TypedArray[]): TypedArray => {
  const out = new kind(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part as never, at);
    at += part.length;
  }
  return out;
};

describe('Barrier', () => {
  it.each(SIZES)('p=%i: nobody leaves before everybody has entered', async (p) => {
    const entered: number[] = [];
    const leftWhenEntered: number[] = [];
    await onAllRanks(p, async (ch, r) => {
      // Ranks enter at different times; each records how many had entered when it left.
      await new Promise((resolve) => setTimeout(resolve, r * 3));
      entered.push(r);
      await coll.Barrier(ch, 1);
      leftWhenEntered.push(entered.length);
    });
    expect(leftWhenEntered).toEqual(ranks(p).map(() => p));
  });
});

forEachAlgorithm('bcast', () => {
  it.each(SIZES)('p=%i: every root, every kind, lengths 0 1 5 37', async (p) => {
    for (const root of ranks(p)) {
      for (const kind of KINDS) {
        for (const length of [0, 1, 5, 37]) {
          const expected = blockOf(kind, root, length, 1);
          const got = await onAllRanks(p, async (ch, r) => {
            const buf = r === root ? expected.slice() : new kind(length);
            await coll.Bcast(ch, buf, root, 3);
            return buf;
          });
          for (const buf of got) expect(elements(buf)).toEqual(elements(expected));
        }
      }
    }
  });
});

forEachAlgorithm('scatter', () => {
  it.each(SIZES)('p=%i: every root, every kind, blocks of 0 1 3, IN_PLACE at the root', async (p) => {
    for (const root of ranks(p)) {
      for (const kind of KINDS) {
        for (const length of [0, 1, 3]) {
          for (const inPlace of [false, true]) {
            const sendbuf = concat(kind, ranks(p).map((r) => blockOf(kind, r, length)));
            const pristine = sendbuf.slice();
            const got = await onAllRanks(p, async (ch, r) => {
              const recvbuf = new kind(length);
              await coll.Scatter(ch, r === root ? sendbuf : null, r === root && inPlace ? IN_PLACE : recvbuf, root, 5);
              return recvbuf;
            });
            got.forEach((buf, r) => {
              if (!(inPlace && r === root)) expect(elements(buf)).toEqual(elements(blockOf(kind, r, length)));
            });
            expect(elements(sendbuf)).toEqual(elements(pristine));
          }
        }
      }
    }
  });
});

forEachAlgorithm('gather', () => {
  it.each(SIZES)('p=%i: every root, every kind, blocks of 0 1 3, IN_PLACE at the root', async (p) => {
    for (const root of ranks(p)) {
      for (const kind of KINDS) {
        for (const length of [0, 1, 3]) {
          for (const inPlace of [false, true]) {
            const expected = concat(kind, ranks(p).map((r) => blockOf(kind, r, length)));
            const got = await onAllRanks(p, async (ch, r) => {
              const sendbuf = blockOf(kind, r, length);
              const recvbuf = r === root ? new kind(p * length) : null;
              if (inPlace && r === root) recvbuf!.set(sendbuf as never, r * length);
              await coll.Gather(ch, inPlace && r === root ? IN_PLACE : sendbuf, recvbuf, root, 5);
              expect(elements(sendbuf)).toEqual(elements(blockOf(kind, r, length)));
              return recvbuf;
            });
            expect(elements(got[root]!)).toEqual(elements(expected));
          }
        }
      }
    }
  });
});

forEachAlgorithm('allgather', () => {
  it.each(SIZES)('p=%i: every kind, blocks of 0 1 3, IN_PLACE', async (p) => {
    for (const kind of KINDS) {
      for (const length of [0, 1, 3]) {
        for (const inPlace of [false, true]) {
          const expected = concat(kind, ranks(p).map((r) => blockOf(kind, r, length)));
          const got = await onAllRanks(p, async (ch, r) => {
            const sendbuf = blockOf(kind, r, length);
            const recvbuf = new kind(p * length);
            if (inPlace) recvbuf.set(sendbuf as never, r * length);
            await coll.Allgather(ch, inPlace ? IN_PLACE : sendbuf, recvbuf, 9);
            expect(elements(sendbuf)).toEqual(elements(blockOf(kind, r, length)));
            return recvbuf;
          });
          for (const buf of got) expect(elements(buf)).toEqual(elements(expected));
        }
      }
    }
  });
});

forEachAlgorithm('alltoall', () => {
  it.each(SIZES)('p=%i: every kind, blocks of 0 1 2, IN_PLACE', async (p) => {
    // Block j of rank i's sendbuf is "from i to j".
    const piece = (kind: Kind, from: number, to: number, length: number) => blockOf(kind, from * 8 + to, length);
    for (const kind of KINDS) {
      for (const length of [0, 1, 2]) {
        for (const inPlace of [false, true]) {
          const got = await onAllRanks(p, async (ch, r) => {
            const sendbuf = concat(kind, ranks(p).map((to) => piece(kind, r, to, length)));
            const pristine = sendbuf.slice();
            const recvbuf = inPlace ? sendbuf : new kind(p * length);
            await coll.Alltoall(ch, inPlace ? IN_PLACE : sendbuf, recvbuf, 2);
            if (!inPlace) expect(elements(sendbuf)).toEqual(elements(pristine));
            return recvbuf;
          });
          got.forEach((buf, r) =>
            expect(elements(buf)).toEqual(elements(concat(kind, ranks(p).map((from) => piece(kind, from, r, length))))),
          );
        }
      }
    }
  });
});

describe('v-variants', () => {
  /** Counts with zeros in them, and displacements that leave gaps and reverse the rank order. */
  const countsFor = (p: number) => ranks(p).map((r) => (r % 3 === 1 ? 0 : r + 1));
  const gappedDispls = (counts: number[]) => {
    const displs: number[] = [];
    let at = 2; // leave a gap at the start and between blocks, in reverse rank order
    for (let r = counts.length - 1; r >= 0; r--) {
      displs[r] = at;
      at += counts[r]! + 1;
    }
    return { displs, length: at };
  };
  const layouts = (p: number) => {
    const counts = countsFor(p);
    const packed = counts.reduce((n, c) => n + c, 0);
    const gapped = gappedDispls(counts);
    return [
      { name: 'packed', counts, displs: undefined as number[] | undefined, length: packed },
      { name: 'gapped', counts, displs: gapped.displs as number[] | undefined, length: gapped.length },
    ];
  };
  const placeOf = (counts: number[], displs: number[] | undefined, r: number) =>
    displs ? displs[r]! : counts.slice(0, r).reduce((n, c) => n + c, 0);

  it.each(SIZES)('Scatterv, p=%i: every root, counts with zeros, packed and gapped, IN_PLACE', async (p) => {
    for (const root of ranks(p)) {
      for (const kind of [Float64Array, Int16Array, BigInt64Array] as const) {
        for (const { counts, displs, length } of layouts(p)) {
          for (const inPlace of [false, true]) {
            const sendbuf = fill(kind, length, (i) => i + 1);
            const pristine = sendbuf.slice();
            const got = await onAllRanks(p, async (ch, r) => {
              const recvbuf = new kind(counts[r]!);
              const spec = displs ? ([sendbuf, counts, displs] as const) : ([sendbuf, counts] as const);
              await coll.Scatterv(ch, r === root ? spec : null, inPlace && r === root ? IN_PLACE : recvbuf, root, 4);
              return recvbuf;
            });
            got.forEach((buf, r) => {
              if (inPlace && r === root) return;
              const at = placeOf(counts, displs, r);
              expect(elements(buf)).toEqual(elements(sendbuf.subarray(at, at + counts[r]!)));
            });
            expect(elements(sendbuf)).toEqual(elements(pristine));
          }
        }
      }
    }
  });

  it.each(SIZES)('Gatherv, p=%i: every root, counts with zeros, packed and gapped, IN_PLACE', async (p) => {
    for (const root of ranks(p)) {
      for (const kind of [Float32Array, Uint8Array, BigUint64Array] as const) {
        for (const { counts, displs, length } of layouts(p)) {
          for (const inPlace of [false, true]) {
            const got = await onAllRanks(p, async (ch, r) => {
              const sendbuf = blockOf(kind, r, counts[r]!);
              const recvbuf = r === root ? new kind(length) : undefined;
              if (inPlace && r === root) recvbuf!.set(sendbuf as never, placeOf(counts, displs, r));
              const spec = displs ? ([recvbuf!, counts, displs] as const) : ([recvbuf!, counts] as const);
              await coll.Gatherv(ch, inPlace && r === root ? IN_PLACE : sendbuf, r === root ? spec : null, root, 4);
              return recvbuf;
            });
            const buf = got[root]!;
            for (const r of ranks(p)) {
              const at = placeOf(counts, displs, r);
              expect(elements(buf.subarray(at, at + counts[r]!))).toEqual(elements(blockOf(kind, r, counts[r]!)));
            }
          }
        }
      }
    }
  });

  it.each(SIZES)('Allgatherv, p=%i: counts with zeros, packed and gapped, IN_PLACE', async (p) => {
    for (const kind of KINDS) {
      for (const { counts, displs, length } of layouts(p)) {
        for (const inPlace of [false, true]) {
          const got = await onAllRanks(p, async (ch, r) => {
            const sendbuf = blockOf(kind, r, counts[r]!);
            const recvbuf = new kind(length);
            if (inPlace) recvbuf.set(sendbuf as never, placeOf(counts, displs, r));
            const spec = displs ? ([recvbuf, counts, displs] as const) : ([recvbuf, counts] as const);
            await coll.Allgatherv(ch, inPlace ? IN_PLACE : sendbuf, spec, 4);
            return recvbuf;
          });
          for (const buf of got) {
            for (const r of ranks(p)) {
              const at = placeOf(counts, displs, r);
              expect(elements(buf.subarray(at, at + counts[r]!))).toEqual(elements(blockOf(kind, r, counts[r]!)));
            }
          }
        }
      }
    }
  });

  it.each(SIZES)('Alltoallv, p=%i: counts with zeros, gapped receive layout, IN_PLACE', async (p) => {
    // Rank i sends (i + j) % 3 elements to rank j; rank j receives them at gapped, reversed places.
    const count = (from: number, to: number) => (from + to) % 3;
    const piece = (kind: Kind, from: number, to: number) => blockOf(kind, from * 8 + to, count(from, to));
    for (const kind of KINDS) {
      for (const inPlace of [false, true]) {
        const got = await onAllRanks(p, async (ch, r) => {
          const sendCounts = ranks(p).map((to) => count(r, to));
          const sendbuf = concat(kind, ranks(p).map((to) => piece(kind, r, to)));
          const recvCounts = ranks(p).map((from) => count(from, r));
          const { displs, length } = gappedDispls(recvCounts);
          const recvbuf = new kind(length);
          if (inPlace) {
            // IN_PLACE: what goes to j is taken from recvbuf's block j (so sent and received counts match).
            for (const to of ranks(p)) recvbuf.set(piece(kind, r, to) as never, displs[to]!);
            if (ranks(p).some((to) => count(r, to) !== count(to, r))) throw new Error('asymmetric');
            await coll.Alltoallv(ch, IN_PLACE, [recvbuf, recvCounts, displs], 6);
          } else {
            await coll.Alltoallv(ch, [sendbuf, sendCounts], [recvbuf, recvCounts, displs], 6);
          }
          return { recvbuf, displs };
        });
        got.forEach(({ recvbuf, displs }, r) => {
          for (const from of ranks(p)) {
            const at = displs[from]!;
            expect(elements(recvbuf.subarray(at, at + count(from, r)))).toEqual(elements(piece(kind, from, r)));
          }
        });
      }
    }
  });
});
