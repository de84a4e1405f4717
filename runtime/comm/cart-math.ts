// Cartesian grid arithmetic behind CartComm (API.md "Communicators and topologies"): rank ↔
// coordinates, shift neighbours and the sub-grid split of sub(). Pure functions of the grid shape,
// so CartComm only adds communication, and every rank computes the same answers with no messages.
//
// Conventions, as in MPI: ranks are numbered row-major (the last dimension varies fastest, so in a
// 2×2 grid rank 1 is [0,1]); a periodic dimension wraps; stepping past the edge of a non-periodic
// one gives PROC_NULL from shift() and TSMPI_ERR_RANK from rankOf().
//
// Error codes: a bad grid shape is TSMPI_ERR_DIMS; a rank or an out-of-range coordinate is
// TSMPI_ERR_RANK; a malformed argument (wrong arity, non-integer, bad direction) is TSMPI_ERR_ARG.

import { PROC_NULL } from '../constants.js';
import { tsmpiError } from '../errors.js';

/**
 * Per-dimension flags; 0/1 are accepted alongside booleans, as mpi4py code often writes [1, 0].
 * @inline
 */
export type FlagsInput = readonly (boolean | 0 | 1)[];

export interface CartShape {
  dims: number[];
  periods: boolean[];
}

/**
 * The two neighbours of a {@link CartComm.shift}.
 * @inline
 */
export interface ShiftResult {
  /** Rank that sends to the caller in a shift by `disp` (the neighbour at −disp), or PROC_NULL. */
  source: number;
  /** Rank the caller sends to (the neighbour at +disp), or PROC_NULL. */
  dest: number;
}

export interface SubGridPlacement {
  /** Which sub-grid the rank falls in: row-major index of its coordinates in the dropped dimensions. */
  color: number;
  /** Rank inside that sub-grid: row-major index of its coordinates in the kept dimensions. */
  key: number;
  /** Shape of the sub-grid: the kept dimensions, in their original order. */
  dims: number[];
  periods: boolean[];
}

/**
 * Checks a grid shape and returns it normalised (fresh arrays, periods as booleans; periods
 * default to all false). TSMPI_ERR_DIMS unless dims is an array of positive integers with a
 * safe-integer product and periods (when given) has the same length; TSMPI_ERR_ARG for a
 * period that is not a boolean, 0 or 1. An empty dims is a zero-dimensional grid of one node.
 */
export function validateCartShape(dims: readonly number[], periods?: FlagsInput): CartShape {
  if (!Array.isArray(dims)) {
    throw tsmpiError('TSMPI_ERR_DIMS', 'Cartesian dims must be an array of positive integers');
  }
  let product = 1;
  const checkedDims = dims.map((size: unknown, index) => {
    if (typeof size !== 'number' || !Number.isInteger(size) || size < 1) {
      throw tsmpiError('TSMPI_ERR_DIMS', `Cartesian dims[${index}] must be a positive integer, got ${String(size)}`);
    }
    product *= size;
    if (!Number.isSafeInteger(product)) {
      throw tsmpiError('TSMPI_ERR_DIMS', `Cartesian grid [${dims.join(', ')}] has too many nodes`);
    }
    return size;
  });
  if (periods === undefined) return { dims: checkedDims, periods: checkedDims.map(() => false) };
  if (!Array.isArray(periods) || periods.length !== checkedDims.length) {
    throw tsmpiError(
      'TSMPI_ERR_DIMS',
      `Cartesian periods must be an array of ${checkedDims.length} flags, one per dimension`,
    );
  }
  return { dims: checkedDims, periods: normaliseFlags(periods, 'periods') };
}

/** Number of nodes in a grid: the product of its dimensions (1 for a zero-dimensional grid). */
export function gridSize(dims: readonly number[]): number {
  return dims.reduce((product, size) => product * size, 1);
}

/**
 * createCart's precondition: the grid must fit in the communicator (ranks beyond it get null).
 * TSMPI_ERR_DIMS otherwise, naming both numbers so the user sees what to change.
 */
export function checkGridFits(dims: readonly number[], commSize: number): void {
  const nodes = gridSize(dims);
  if (nodes > commSize) {
    throw tsmpiError(
      'TSMPI_ERR_DIMS',
      `Cartesian grid [${dims.join(', ')}] needs ${nodes} ranks but the communicator has only ${commSize}`,
    );
  }
}

/** Rank/coordinate arithmetic of one grid shape. Immutable; build it once per CartComm. */
export class CartGeometry {
  readonly dims: readonly number[];
  readonly periods: readonly boolean[];
  readonly ndims: number;
  /** Number of grid nodes; valid ranks are 0 … size-1. */
  readonly size: number;
  /** strides[i]: how far the rank moves when coordinate i grows by one (row-major). */
  private readonly strides: readonly number[];

  constructor(dims: readonly number[], periods?: FlagsInput) {
    const shape = validateCartShape(dims, periods);
    this.dims = Object.freeze(shape.dims);
    this.periods = Object.freeze(shape.periods);
    this.ndims = shape.dims.length;
    this.size = gridSize(shape.dims);
    const strides = new Array<number>(this.ndims);
    let stride = 1;
    for (let i = this.ndims - 1; i >= 0; i--) {
      strides[i] = stride;
      stride *= shape.dims[i]!;
    }
    this.strides = Object.freeze(strides);
  }

  /** Coordinates of `rank` (MPI_Cart_coords). TSMPI_ERR_RANK unless 0 ≤ rank < size. */
  coordsOf(rank: number): number[] {
    this.checkRank(rank);
    return this.dims.map((size, i) => Math.floor(rank / this.strides[i]!) % size);
  }

  /**
   * Rank at `coords` (MPI_Cart_rank). Coordinates wrap in periodic dimensions, so [-1] in a periodic
   * ring of 4 is rank 3; out of range in a non-periodic one is TSMPI_ERR_RANK. TSMPI_ERR_ARG for
   * the wrong number of coordinates or a non-integer one.
   */
  rankOf(coords: readonly number[]): number {
    if (!Array.isArray(coords) || coords.length !== this.ndims) {
      throw tsmpiError('TSMPI_ERR_ARG', `expected ${this.ndims} Cartesian coordinates, got ${describe(coords)}`);
    }
    let rank = 0;
    for (let i = 0; i < this.ndims; i++) {
      const coordinate: unknown = coords[i];
      if (typeof coordinate !== 'number' || !Number.isSafeInteger(coordinate)) {
        throw tsmpiError('TSMPI_ERR_ARG', `Cartesian coordinate ${i} must be an integer, got ${String(coordinate)}`);
      }
      const inRange = this.placeInDimension(i, coordinate);
      if (inRange === undefined) {
        throw tsmpiError(
          'TSMPI_ERR_RANK',
          `coordinate ${coordinate} is outside non-periodic dimension ${i} of size ${this.dims[i]!}`,
        );
      }
      rank += inRange * this.strides[i]!;
    }
    return rank;
  }

  /**
   * Neighbours for a shift of `disp` steps along `direction` (MPI_Cart_shift) as seen from `rank`:
   * `dest` is the rank at +disp, `source` the rank at −disp. Past a non-periodic edge either is
   * PROC_NULL; periodic dimensions wrap however large |disp| is. disp 0 gives the rank itself twice.
   */
  shift(rank: number, direction: number, disp = 1): ShiftResult {
    this.checkRank(rank);
    if (!Number.isInteger(direction) || direction < 0 || direction >= this.ndims) {
      const allowed = this.ndims === 0 ? 'none: the grid has no dimensions' : `an integer in 0 … ${this.ndims - 1}`;
      throw tsmpiError('TSMPI_ERR_ARG', `shift direction must be ${allowed}, got ${String(direction)}`);
    }
    if (!Number.isSafeInteger(disp)) {
      throw tsmpiError('TSMPI_ERR_ARG', `shift displacement must be an integer, got ${String(disp)}`);
    }
    const stride = this.strides[direction]!;
    const size = this.dims[direction]!;
    const here = Math.floor(rank / stride) % size;
    // Only this coordinate changes, so the neighbour's rank differs by a multiple of the stride.
    // A periodic offset is reduced first so that here + offset stays exact for any safe disp.
    const neighbour = (offset: number): number => {
      const reduced = this.periods[direction] ? offset % size : offset;
      const there = this.placeInDimension(direction, here + reduced);
      return there === undefined ? PROC_NULL : rank + (there - here) * stride;
    };
    return { source: neighbour(-disp), dest: neighbour(disp) };
  }

  /**
   * How sub(remainDims) (MPI_Cart_sub) splits the grid, for `rank`: ranks agreeing on the dropped
   * coordinates share a colour, and the key orders them row-major over the kept ones, so a split
   * with (color, key) makes the key the rank in the sub-grid. Keeping no dimension leaves each rank
   * alone in a zero-dimensional grid. TSMPI_ERR_ARG unless remainDims has one flag per dimension.
   */
  subGrid(rank: number, remainDims: FlagsInput): SubGridPlacement {
    this.checkRank(rank);
    if (!Array.isArray(remainDims) || remainDims.length !== this.ndims) {
      throw tsmpiError('TSMPI_ERR_ARG', `remainDims must have one flag per dimension (${this.ndims}), got ${describe(remainDims)}`);
    }
    const keep = normaliseFlags(remainDims, 'remainDims');
    const coords = this.coordsOf(rank);
    let color = 0;
    let key = 0;
    const dims: number[] = [];
    const periods: boolean[] = [];
    // Horner's rule in dimension order over each subset gives the row-major index within it.
    for (let i = 0; i < this.ndims; i++) {
      if (keep[i]) {
        key = key * this.dims[i]! + coords[i]!;
        dims.push(this.dims[i]!);
        periods.push(this.periods[i]!);
      } else {
        color = color * this.dims[i]! + coords[i]!;
      }
    }
    return { color, key, dims, periods };
  }

  /** Coordinate brought into 0 … size-1 of dimension i (wrapped if periodic); undefined past a hard edge. */
  private placeInDimension(i: number, coordinate: number): number | undefined {
    const size = this.dims[i]!;
    if (this.periods[i]) return ((coordinate % size) + size) % size;
    return coordinate >= 0 && coordinate < size ? coordinate : undefined;
  }

  private checkRank(rank: number): void {
    if (!Number.isInteger(rank) || rank < 0 || rank >= this.size) {
      throw tsmpiError('TSMPI_ERR_RANK', `rank ${String(rank)} is not in the Cartesian grid of ${this.size} nodes`);
    }
  }
}

function normaliseFlags(flags: FlagsInput, name: string): boolean[] {
  return flags.map((flag: unknown, index) => {
    if (flag === true || flag === 1) return true;
    if (flag === false || flag === 0) return false;
    throw tsmpiError('TSMPI_ERR_ARG', `${name}[${index}] must be a boolean (or 0/1), got ${String(flag)}`);
  });
}

function describe(value: unknown): string {
  return Array.isArray(value) ? `${value.length} (${JSON.stringify(value)})` : String(value);
}
