// tsmpi: the only public entry of the runtime. Importing it joins the job (top-level await): under
// tsmpirun or a PMI launcher the rank connects to its peers; run alone it is a job of one rank.
// (tsmpirun's ranks import the same names from dist/tsmpi.js, built from runtime/library.ts.)
import { joinWorld } from './world.js';

const world = await joinWorld();

/** Every rank of the job. */
export const COMM_WORLD = world.COMM_WORLD;
/** This rank alone. */
export const COMM_SELF = world.COMM_SELF;
/** Optional: closes this rank's connections. Communication after it fails. */
export const finalize = world.finalize;

export {
  Comm, type VectorSpec, CartComm, computeDims,
  Op, SUM, PROD, MAX, MIN, LAND, LOR, LXOR, BAND, BOR, BXOR, MAXLOC, MINLOC, REPLACE, NO_OP, type OpLike,
  ANY_SOURCE, ANY_TAG, PROC_NULL, IN_PLACE, UNDEFINED, TAG_UB,
  TsmpiError, type TsmpiErrorCode, Request, Status, Wtime, Wtick, getProcessorName, type TypedArray, allocShared,
} from './library.js';
