// Unit tests of runtime/comm/cart-math.ts: shape validation, row-major rank ↔ coordinates, shift
// neighbours of every rank in every direction with both signs of displacement (as mpi4py's
// test_comm_topo does, here for whole grids at once), and the colour/key plan of sub().
// Expected values come from an independent model: the grid's coordinates enumerated in row-major
// order with nested counting, not from the strides the implementation uses.
import { describe, expect, it } from 'vitest';
import { CartGeometry, checkGridFits, gridSize, validateCartShape } from '../../runtime/comm/cart-math.js';
import { computeDims } from '../../runtime/comm/dims.js';
import { planSplit } from '../../runtime/comm/split-plan.js';
import { PROC_NULL } from '../../runtime/constants.js';
import { expectTsmpiError } from '../helpers/errors.js';

/** All coordinates of a grid in row-major order (last coordinate counting fastest): index = rank. */
function rowMajorCoords(dims: readonly number[]): number[][] {
  let all: number[][] = [[]];
  for (const size of dims) {
    const next: number[][] = [];
    for (const prefix of all) for (let c = 0; c < size; c++) next.push([...prefix, c]);
    all = next;
  }
  return all;
}

/** The model's neighbour: step one coordinate, wrap or fall off, look the result up by value. */
function modelNeighbour(
  dims: readonly number[],
  periods: readonly boolean[],
  coords: readonly number[],
  direction: number,
  offset: number,
): number {
  const target = [...coords];
  let c = target[direction]! + offset;
  const size = dims[direction]!;
  if (periods[direction]) c = ((c % size) + size) % size;
  else if (c < 0 || c >= size) return PROC_NULL;
  target[direction] = c;
  return rowMajorCoords(dims).findIndex((candidate) => candidate.join() === target.join());
}

function periodPatterns(ndims: number): boolean[][] {
  const patterns = [new Array<boolean>(ndims).fill(false), new Array<boolean>(ndims).fill(true)];
  if (ndims > 1) patterns.push(Array.from({ length: ndims }, (_, i) => i % 2 === 0));
  return patterns;
}

/** Grids for ndims 1…3: computeDims shapes for several communicator sizes, plus uneven ones. */
function gridsToCheck(): number[][] {
  const grids: number[][] = [];
  for (let ndims = 1; ndims <= 3; ndims++) {
    for (const size of [1, 2, 3, 4, 5, 6, 8, 12, 16, 24]) grids.push(computeDims(size, ndims));
  }
  grids.push([1, 5], [5, 1], [2, 3, 4], [4, 1, 3], [3, 2], [1, 1, 2], [7]);
  return grids;
}

describe('validateCartShape, gridSize, checkGridFits', () => {
  it('normalises: periods default to all false, 0/1 become booleans, arrays are copies', () => {
    const dims = [2, 3];
    const shape = validateCartShape(dims);
    expect(shape).toEqual({ dims: [2, 3], periods: [false, false] });
    expect(shape.dims).not.toBe(dims);
    expect(validateCartShape([2, 3], [1, 0])).toEqual({ dims: [2, 3], periods: [true, false] });
    expect(validateCartShape([], [])).toEqual({ dims: [], periods: [] });
  });

  it('TSMPI_ERR_DIMS for bad dims or periods of the wrong length', () => {
    for (const dims of [[0], [-1], [2, 1.5], [Number.NaN], ['2'], [2 ** 30, 2 ** 30, 2 ** 30], 'x', undefined]) {
      expectTsmpiError(() => validateCartShape(dims as number[]), 'TSMPI_ERR_DIMS');
    }
    expectTsmpiError(() => validateCartShape([2, 2], [true]), 'TSMPI_ERR_DIMS');
    expectTsmpiError(() => validateCartShape([2], [true, false]), 'TSMPI_ERR_DIMS');
    expectTsmpiError(() => validateCartShape([2], true as unknown as boolean[]), 'TSMPI_ERR_DIMS');
  });

  it('TSMPI_ERR_ARG for a period that is not a flag', () => {
    for (const flag of [2, 'yes', null, undefined, -1]) {
      expectTsmpiError(() => validateCartShape([2], [flag as unknown as boolean]), 'TSMPI_ERR_ARG');
    }
  });

  it('gridSize multiplies; checkGridFits rejects a grid larger than the communicator', () => {
    expect(gridSize([2, 3, 4])).toBe(24);
    expect(gridSize([])).toBe(1);
    expect(() => checkGridFits([2, 3], 6)).not.toThrow();
    expect(() => checkGridFits([2, 3], 8)).not.toThrow();
    expectTsmpiError(() => checkGridFits([2, 3], 5), 'TSMPI_ERR_DIMS');
    expect(() => checkGridFits([2, 3], 5)).toThrow(/needs 6 ranks.*only 5/);
  });
});

describe('CartGeometry: ranks and coordinates', () => {
  it('is row-major: in a 2×2 grid rank 1 is [0,1]', () => {
    const grid = new CartGeometry([2, 2]);
    expect([0, 1, 2, 3].map((r) => grid.coordsOf(r))).toEqual([[0, 0], [0, 1], [1, 0], [1, 1]]);
    expect(grid.rankOf([0, 1])).toBe(1);
    expect(grid.size).toBe(4);
    expect(grid.ndims).toBe(2);
  });

  it('matches the row-major model and round-trips for every rank of every grid', () => {
    for (const dims of gridsToCheck()) {
      for (const periods of periodPatterns(dims.length)) {
        const grid = new CartGeometry(dims, periods);
        const model = rowMajorCoords(dims);
        expect(grid.size).toBe(model.length);
        model.forEach((coords, rank) => {
          expect(grid.coordsOf(rank), `[${dims}] rank ${rank}`).toEqual(coords);
          expect(grid.rankOf(coords), `[${dims}] at [${coords}]`).toBe(rank);
        });
      }
    }
  });

  it('wraps coordinates in periodic dimensions, any number of laps either way', () => {
    const grid = new CartGeometry([3, 4], [true, false]);
    for (const [row, col] of rowMajorCoords([3, 4])) {
      for (const laps of [-3, -1, 1, 2, 7]) {
        expect(grid.rankOf([row! + laps * 3, col!])).toBe(grid.rankOf([row!, col!]));
      }
    }
    const ring = new CartGeometry([4], [true]);
    expect(ring.rankOf([-1])).toBe(3);
    expect(ring.rankOf([4])).toBe(0);
    expect(ring.rankOf([1e15 + 2])).toBe(2);
  });

  it('TSMPI_ERR_RANK for a coordinate outside a non-periodic dimension', () => {
    const grid = new CartGeometry([3, 4], [true, false]);
    expectTsmpiError(() => grid.rankOf([0, -1]), 'TSMPI_ERR_RANK');
    expectTsmpiError(() => grid.rankOf([0, 4]), 'TSMPI_ERR_RANK');
    expectTsmpiError(() => grid.rankOf([5, 9]), 'TSMPI_ERR_RANK');
  });

  it('TSMPI_ERR_ARG for the wrong number of coordinates or a non-integer one', () => {
    const grid = new CartGeometry([3, 4]);
    for (const coords of [[0], [0, 0, 0], [], [0, 1.5], [Number.NaN, 0], ['0', 0], 'x', undefined]) {
      expectTsmpiError(() => grid.rankOf(coords as number[]), 'TSMPI_ERR_ARG');
    }
  });

  it('TSMPI_ERR_RANK for a rank outside the grid', () => {
    const grid = new CartGeometry([3, 4]);
    for (const rank of [-1, 12, 100, 0.5, Number.NaN, PROC_NULL]) {
      expectTsmpiError(() => grid.coordsOf(rank), 'TSMPI_ERR_RANK');
    }
  });

  it('keeps its shape immutable and hands out fresh coordinate arrays', () => {
    const dims = [2, 3];
    const grid = new CartGeometry(dims);
    dims[0] = 99;
    expect(grid.dims).toEqual([2, 3]);
    expect(Object.isFrozen(grid.dims)).toBe(true);
    expect(Object.isFrozen(grid.periods)).toBe(true);
    const coords = grid.coordsOf(4);
    coords[0] = 7;
    expect(grid.coordsOf(4)).toEqual([1, 1]);
  });

  it('a zero-dimensional grid has one node with empty coordinates', () => {
    const point = new CartGeometry([]);
    expect(point.size).toBe(1);
    expect(point.coordsOf(0)).toEqual([]);
    expect(point.rankOf([])).toBe(0);
    expectTsmpiError(() => point.coordsOf(1), 'TSMPI_ERR_RANK');
    expectTsmpiError(() => point.shift(0, 0, 1), 'TSMPI_ERR_ARG');
  });
});

describe('CartGeometry: shift', () => {
  it('gives the neighbour of every rank in every direction, both signs, any distance', () => {
    let checked = 0;
    for (const dims of gridsToCheck()) {
      for (const periods of periodPatterns(dims.length)) {
        const grid = new CartGeometry(dims, periods);
        rowMajorCoords(dims).forEach((coords, rank) => {
          for (let direction = 0; direction < dims.length; direction++) {
            const size = dims[direction]!;
            // Both signs, zero, and displacements reaching past the far edge.
            for (let disp = -(2 * size + 1); disp <= 2 * size + 1; disp++) {
              const { source, dest } = grid.shift(rank, direction, disp);
              const context = `[${dims}] periods [${periods}] rank ${rank} dir ${direction} disp ${disp}`;
              expect(dest, context).toBe(modelNeighbour(dims, periods, coords, direction, disp));
              expect(source, context).toBe(modelNeighbour(dims, periods, coords, direction, -disp));
              checked++;
            }
          }
        });
      }
    }
    expect(checked).toBeGreaterThan(5000);
  });

  it('agrees with rankOf on the shifted coordinates, as mpi4py checks Shift(±1) against Get_cart_rank', () => {
    for (const dims of gridsToCheck()) {
      for (const periods of periodPatterns(dims.length)) {
        const grid = new CartGeometry(dims, periods);
        for (let rank = 0; rank < grid.size; rank++) {
          const coords = grid.coordsOf(rank);
          for (let direction = 0; direction < dims.length; direction++) {
            for (const disp of [-1, 1]) {
              const { source, dest } = grid.shift(rank, direction, disp);
              const shifted = (by: number): number => {
                const target = [...coords];
                target[direction]! += by;
                const c = target[direction]!;
                return !periods[direction] && (c < 0 || c >= dims[direction]!) ? PROC_NULL : grid.rankOf(target);
              };
              expect(dest).toBe(shifted(disp));
              expect(source).toBe(shifted(-disp));
              // Reversing the displacement swaps the roles.
              expect(grid.shift(rank, direction, -disp)).toEqual({ source: dest, dest: source });
            }
          }
        }
      }
    }
  });

  it('defaults disp to 1; disp 0 is the rank itself; PROC_NULL only past a non-periodic edge', () => {
    const line = new CartGeometry([4]);
    expect(line.shift(0, 0)).toEqual({ source: PROC_NULL, dest: 1 });
    expect(line.shift(3, 0)).toEqual({ source: 2, dest: PROC_NULL });
    expect(line.shift(2, 0, 0)).toEqual({ source: 2, dest: 2 });
    expect(line.shift(1, 0, 5)).toEqual({ source: PROC_NULL, dest: PROC_NULL });
    const ring = new CartGeometry([4], [true]);
    expect(ring.shift(0, 0, 1)).toEqual({ source: 3, dest: 1 });
    expect(ring.shift(0, 0, -5)).toEqual({ source: 1, dest: 3 });
    expect(ring.shift(1, 0, 1e15 + 1)).toEqual({ source: 0, dest: 2 });
    expect(ring.shift(1, 0, -(1e15 + 1))).toEqual({ source: 2, dest: 0 });
    const single = new CartGeometry([1], [true]);
    expect(single.shift(0, 0, 1)).toEqual({ source: 0, dest: 0 });
  });

  it('rejects a bad rank (TSMPI_ERR_RANK), direction or displacement (TSMPI_ERR_ARG)', () => {
    const grid = new CartGeometry([2, 3]);
    expectTsmpiError(() => grid.shift(-1, 0, 1), 'TSMPI_ERR_RANK');
    expectTsmpiError(() => grid.shift(6, 0, 1), 'TSMPI_ERR_RANK');
    for (const direction of [-1, 2, 0.5, Number.NaN]) expectTsmpiError(() => grid.shift(0, direction, 1), 'TSMPI_ERR_ARG');
    for (const disp of [0.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 60]) {
      expectTsmpiError(() => grid.shift(0, 0, disp), 'TSMPI_ERR_ARG');
    }
  });
});

describe('CartGeometry: subGrid', () => {
  /** Every remainDims pattern for n dimensions. */
  function allKeepPatterns(ndims: number): boolean[][] {
    return Array.from({ length: 2 ** ndims }, (_, bits) => Array.from({ length: ndims }, (_, i) => ((bits >> i) & 1) === 1));
  }

  it('rows and columns of a 2×3 grid', () => {
    const grid = new CartGeometry([2, 3], [false, true]);
    // rank 4 is [1,1]
    expect(grid.subGrid(4, [false, true])).toEqual({ color: 1, key: 1, dims: [3], periods: [true] });
    expect(grid.subGrid(4, [true, false])).toEqual({ color: 1, key: 1, dims: [2], periods: [false] });
    expect(grid.subGrid(5, [true, true])).toEqual({ color: 0, key: 5, dims: [2, 3], periods: [false, true] });
    expect(grid.subGrid(5, [false, false])).toEqual({ color: 5, key: 0, dims: [], periods: [] });
    expect(grid.subGrid(2, [0, 1])).toEqual({ color: 0, key: 2, dims: [3], periods: [true] });
  });

  it('for every grid and every remainDims: sub-grids of the right shape, keys row-major inside them', () => {
    for (const dims of gridsToCheck()) {
      const periods = dims.map((_, i) => i % 2 === 1);
      const grid = new CartGeometry(dims, periods);
      const model = rowMajorCoords(dims);
      for (const keep of allKeepPatterns(dims.length)) {
        const placements = model.map((_, rank) => grid.subGrid(rank, keep));
        const keptDims = dims.filter((_, i) => keep[i]);
        const droppedDims = dims.filter((_, i) => !keep[i]);
        const context = `[${dims}] keep [${keep}]`;

        // Same colour exactly when the dropped coordinates agree; colours number 0 … prod(dropped)-1.
        const dropped = (rank: number): string => model[rank]!.filter((_, i) => !keep[i]).join();
        for (let a = 0; a < model.length; a++) {
          for (let b = 0; b < model.length; b++) {
            expect(placements[a]!.color === placements[b]!.color, context).toBe(dropped(a) === dropped(b));
          }
        }
        expect(new Set(placements.map((p) => p.color)).size, context).toBe(gridSize(droppedDims));
        expect(Math.max(...placements.map((p) => p.color)), context).toBe(gridSize(droppedDims) - 1);

        for (const placement of placements) {
          expect(placement.dims, context).toEqual(keptDims);
          expect(placement.periods, context).toEqual(periods.filter((_, i) => keep[i]));
        }
        // Inside a sub-grid the key is the rank of the kept coordinates in a grid of the kept dims,
        // and the split plan built from (color, key) makes the key the new rank.
        const subGrid = new CartGeometry(keptDims);
        model.forEach((coords, rank) => {
          const kept = coords.filter((_, i) => keep[i]);
          expect(placements[rank]!.key, context).toBe(subGrid.rankOf(kept));
          const plan = planSplit(placements, rank);
          expect(plan?.newRank, context).toBe(placements[rank]!.key);
          expect(plan?.newSize, context).toBe(gridSize(keptDims));
        });
      }
    }
  });

  it('TSMPI_ERR_ARG for remainDims of the wrong length or with a non-flag; TSMPI_ERR_RANK for a bad rank', () => {
    const grid = new CartGeometry([2, 3]);
    for (const keep of [[true], [true, false, true], [], [true, 'no'], [2, 0], 'x', undefined]) {
      expectTsmpiError(() => grid.subGrid(0, keep as boolean[]), 'TSMPI_ERR_ARG');
    }
    expectTsmpiError(() => grid.subGrid(6, [true, false]), 'TSMPI_ERR_RANK');
  });
});
