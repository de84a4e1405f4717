// Public constants (API.md "Constants"). Values follow MPICH where MPI fixes none.

export const ANY_SOURCE = -1;
export const ANY_TAG = -1;
export const PROC_NULL = -2;
/** split() colour meaning "not in any new communicator"; also waitany's index once none is active. */
export const UNDEFINED = -32766;
/** Marks a collective's send buffer as being the receive buffer (MPI_IN_PLACE). */
export const IN_PLACE: unique symbol = Symbol.for('tsmpi.IN_PLACE');
export type InPlace = typeof IN_PLACE;
/** Largest legal tag (MPI_TAG_UB): tags are integers 0 … 2^31-1. */
export const TAG_UB = 0x7fffffff;
