// Public constants (API.md "Constants"). Values follow MPICH where MPI fixes none.

/**
 * A receive's or probe's source meaning "from any rank" (MPI_ANY_SOURCE); the `Status` tells which
 * rank it was. Not a valid destination.
 */
export const ANY_SOURCE = -1;
/**
 * A receive's or probe's tag meaning "any tag" (MPI_ANY_TAG); the `Status` tells which tag it was.
 * Not a valid tag for a send.
 */
export const ANY_TAG = -1;
/**
 * The null rank (MPI_PROC_NULL): a send to it or a receive from it completes at once and does nothing.
 * A receive from it returns `undefined` (objects) or a `Status` with source PROC_NULL and count 0
 * (typed arrays). {@link CartComm.shift} gives it past the edge of a non-periodic dimension.
 */
export const PROC_NULL = -2;
/** split() colour meaning "not in any new communicator"; also waitany's index once none is active. */
export const UNDEFINED = -32766;
/**
 * Marks a collective's send buffer as being the receive buffer (MPI_IN_PLACE): pass it as `sendbuf`
 * and the input is taken from `recvbuf`, which receives the result (for `Scatter`/`Scatterv` it is the
 * root's `recvbuf` instead: the root keeps its block where it is in `sendbuf`). Where a call allows it
 * only at the root, another rank passing it fails with `TSMPI_ERR_ARG`.
 *
 * @example
 * ```ts
 * const partial = Float64Array.of(comm.rank, 1);
 * await comm.Allreduce(IN_PLACE, partial, SUM); // partial now holds the sums over every rank
 * ```
 */
export const IN_PLACE: unique symbol = Symbol.for('tsmpi.IN_PLACE');
/** The type of {@link IN_PLACE}. */
export type InPlace = typeof IN_PLACE;
/** Largest legal tag (MPI_TAG_UB): tags are integers 0 … 2^31-1. */
export const TAG_UB = 0x7fffffff;
