// CartComm: a communicator whose ranks sit on a Cartesian grid (row-major: in a 2×2 grid, rank 1 is
// [0,1]). The grid arithmetic lives in cart-math.ts; this file only joins it to communicators:
// createCart keeps the first prod(dims) ranks (the rest get null), sub() splits along kept dims.
import { UNDEFINED } from '../constants.js';
import { CartGeometry, checkGridFits, validateCartShape, type FlagsInput, type ShiftResult } from './cart-math.js';
import { Comm, type CommInit, type SplitPlanner } from './comm.js';

export class CartComm extends Comm {
  readonly #geometry: CartGeometry;

  /** @internal Made by createCart and sub. */
  constructor(init: CommInit, geometry: CartGeometry) {
    super(init);
    this.#geometry = geometry;
  }

  get dims(): number[] { return [...this.#geometry.dims]; }
  get periods(): boolean[] { return [...this.#geometry.periods]; }
  get ndims(): number { return this.#geometry.ndims; }
  /** This rank's coordinates. */
  get coords(): number[] { return this.#geometry.coordsOf(this.rank); }

  getCoords(rank: number): number[] {
    this.checkUsable();
    return this.#geometry.coordsOf(rank);
  }

  getCartRank(coords: readonly number[]): number {
    this.checkUsable();
    return this.#geometry.rankOf(coords);
  }

  /** Neighbours `disp` steps along `direction`: where to receive from and send to (PROC_NULL past an edge). */
  shift(direction: number, disp = 1): ShiftResult {
    this.checkUsable();
    return this.#geometry.shift(this.rank, direction, disp);
  }

  /** The sub-grid of this rank keeping the dimensions flagged in `remainDims`. */
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
