// Everything the runtime exports except the world itself (runtime/index.ts adds COMM_WORLD, COMM_SELF
// and finalize by joining the job), and the step that joins it. The one-file runtime is built from
// this module (dist/tsmpi-runtime.cjs, see launcher/transform.ts).
/** @internal Joining the job: done once per rank by the runtime's entry, never by user code. */
export { joinWorld, type World } from './world.js';
export { Comm, type VectorSpec } from './comm/comm.js';
export { CartComm } from './comm/cart.js';
export { computeDims } from './comm/dims.js';
export {
  Op, SUM, PROD, MAX, MIN, LAND, LOR, LXOR, BAND, BOR, BXOR, MAXLOC, MINLOC, REPLACE, NO_OP, type OpLike,
} from './coll/ops.js';
export { ANY_SOURCE, ANY_TAG, PROC_NULL, IN_PLACE, UNDEFINED, TAG_UB } from './constants.js';
export { TsmpiError, type TsmpiErrorCode } from './errors.js';
export { Request } from './p2p/request.js';
export { allocShared } from './p2p/shared-memory.js';
export { Status } from './p2p/status.js';
export { Wtime, Wtick, getProcessorName } from './env/time.js';
export type { TypedArray } from './wire/dtype.js';
// The runtime modules tsmpi/futures uses, by their path under runtime/: it is bundled apart
// (dist/tsmpi-futures.cjs, loaded by the programs that import it) and takes these instances, so that
// a rank has one Comm class, one TsmpiError… Not one of tsmpi's names (launcher/transform.ts).
import * as commModule from './comm/comm.js';
import * as constantsModule from './constants.js';
import * as errorsModule from './errors.js';
/** @internal The runtime modules the tsmpi/futures bundle shares with the library (see above). */
export const sharedModules = { 'comm/comm.js': commModule, 'constants.js': constantsModule, 'errors.js': errorsModule };
