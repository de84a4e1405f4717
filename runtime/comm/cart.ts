// CartComm: a communicator whose ranks sit on a Cartesian grid (row-major: in a 2×2 grid, rank 1 is
// [0,1]). The grid arithmetic lives in cart-math.ts; this file only joins it to communicators:
// createCart keeps the first prod(dims) ranks (the rest get null), sub() splits along kept dims.
import { UNDEFINED } from '../constants.js';
import { CartGeometry, checkGridFits, validateCartShape, type FlagsInput, type ShiftResult } from './cart-math.js';
import { Comm, type CommInit, type SplitPlanner } from './comm.js';

/**
 * A communicator whose ranks sit on a Cartesian grid (MPI's Cartesian topology), made by
 * {@link Comm.createCart} (or {@link CartComm.sub}). Ranks are numbered row-major: the last dimension
 * varies fastest, so in a 2×3 grid rank 1 is at [0, 1] and rank 3 at [1, 0]. Ranks keep their order
 * from the parent communicator (no reordering). It is a {@link Comm}: every call of a communicator
 * works on it, with the grid's ranks.
 *
 * @example
 * ```ts
 * import { COMM_WORLD as comm, computeDims } from 'tsmpi';
 *
 * // A ring: each rank sends its rank to the right and receives from the left.
 * const ring = (await comm.createCart([comm.size], [true]))!;
 * const { source, dest } = ring.shift(0, 1);
 * const fromLeft = await ring.sendrecv<number>(ring.rank, dest, 0, source);
 *
 * // A 2-D grid and its rows.
 * const grid = await comm.createCart(computeDims(comm.size, 2));
 * if (grid) {
 *   const row = await grid.sub([false, true]); // keep dimension 1: the ranks of my row
 *   console.log(`rank ${grid.rank} at ${grid.coords}, ${row.rank} of ${row.size} in its row`);
 * }
 * ```
 */
export class CartComm extends Comm {
  readonly #geometry: CartGeometry;

  /** @internal Made by createCart and sub. */
  constructor(init: CommInit, geometry: CartGeometry) {
    super(init);
    this.#geometry = geometry;
  }

  /** The grid's size along each dimension (a new array each time). */
  get dims(): number[] { return [...this.#geometry.dims]; }
  /** Whether each dimension wraps around (a new array each time). */
  get periods(): boolean[] { return [...this.#geometry.periods]; }
  /** The number of dimensions. */
  get ndims(): number { return this.#geometry.ndims; }
  /** This rank's coordinates. */
  get coords(): number[] { return this.#geometry.coordsOf(this.rank); }

  /**
   * The coordinates of `rank` (MPI_Cart_coords).
   *
   * @throws {@link TsmpiError} `TSMPI_ERR_RANK` unless `rank` is an integer in 0 … size-1;
   *   `TSMPI_ERR_COMM` on a freed communicator or after finalize().
   */
  getCoords(rank: number): number[] {
    this.checkUsable();
    return this.#geometry.coordsOf(rank);
  }

  /**
   * The rank at `coords` (MPI_Cart_rank). Coordinates wrap in periodic dimensions, so [-1] in a
   * periodic ring of 4 is rank 3.
   *
   * @throws {@link TsmpiError} `TSMPI_ERR_ARG` for the wrong number of coordinates or a non-integer one;
   *   `TSMPI_ERR_RANK` for a coordinate outside a non-periodic dimension; `TSMPI_ERR_COMM` on a freed
   *   communicator or after finalize().
   */
  getCartRank(coords: readonly number[]): number {
    this.checkUsable();
    return this.#geometry.rankOf(coords);
  }

  /**
   * Neighbours `disp` steps along `direction` (MPI_Cart_shift): `dest`, the rank at +disp, to send to,
   * and `source`, the rank at −disp, to receive from; {@link PROC_NULL} past the edge of a non-periodic
   * dimension (so a shift along a line needs no special case at its ends). Local: no communication.
   *
   * @param direction - the dimension, 0 … ndims-1.
   * @param disp - the number of steps (default 1; negative goes the other way).
   * @throws {@link TsmpiError} `TSMPI_ERR_ARG` for a direction outside 0 … ndims-1 or a non-integer
   *   `disp`; `TSMPI_ERR_COMM` on a freed communicator or after finalize().
   *
   * @example
   * ```ts
   * const { source, dest } = grid.shift(0, 1);
   * const status = await grid.Sendrecv(edgeOut, dest, 0, edgeIn, source, 0); // PROC_NULL: nothing moves
   * ```
   */
  shift(direction: number, disp = 1): ShiftResult {
    this.checkUsable();
    return this.#geometry.shift(this.rank, direction, disp);
  }

  /**
   * The sub-grid of this rank keeping the dimensions flagged in `remainDims` (MPI_Cart_sub): ranks that
   * agree on the dropped coordinates form one sub-grid, ordered row-major over the kept ones. Keeping
   * no dimension leaves each rank alone in a zero-dimensional grid. Collective: every rank of this
   * communicator calls it, with the same flags.
   *
   * @param remainDims - one flag per dimension: true (or 1) keeps it.
   * @throws {@link TsmpiError} (as a rejection) `TSMPI_ERR_ARG` unless `remainDims` has one boolean
   *   (or 0/1) per dimension; `TSMPI_ERR_COMM` on a freed communicator or after finalize().
   */
  sub(remainDims: FlagsInput): Promise<CartComm> {
    return this.splitCall('sub', async (plan) => {
      const placement = this.#geometry.subGrid(this.rank, remainDims);
      const planned = await plan(placement.color, placement.key);
      return new CartComm(
        { shared: this.shared, ...planned!, name: `${this.name}.sub` },
        new CartGeometry(placement.dims, placement.periods),
      );
    });
  }
}

/** @internal createCart's work (kept here so comm.ts need not import its own subclass). */
export async function makeCart(
  parent: Comm, plan: SplitPlanner, dims: readonly number[], periods: FlagsInput | undefined, _reorder: boolean,
): Promise<CartComm | null> {
  // Validation runs on every rank before anything is sent: the same bad input fails everywhere.
  const shape = validateCartShape(dims, periods);
  const geometry = new CartGeometry(shape.dims, shape.periods);
  checkGridFits(shape.dims, parent.size);
  // Reordering is allowed by MPI, never required: ranks keep their order (rank r sits at coordsOf(r)).
  const inGrid = parent.rank < geometry.size;
  const planned = await plan(inGrid ? 0 : UNDEFINED, parent.rank);
  if (!planned) return null;
  return new CartComm({ shared: parent.shared, ...planned, name: `${parent.name}.cart` }, geometry);
}
