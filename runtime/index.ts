// tsmpi: the only public entry of the runtime. Importing it joins the job (top-level await): under
// tsmpirun or a PMI launcher the rank connects to its peers; run alone it is a job of one rank.
import { bootstrap } from './env/bootstrap.js';
import { Comm, newCommShared } from './comm/comm.js';

const world = await bootstrap();

const worldMembers = new Int32Array(world.engine.size).map((_, i) => i);

function abortJob(errorcode: number): never {
  world.control?.abort(errorcode, `called abort(${errorcode})`);
  process.exit(errorcode);
}

const shared = newCommShared(world.engine, abortJob);

/** Every rank of the job. */
export const COMM_WORLD: Comm = new Comm({ shared, context: 0, members: worldMembers, name: 'COMM_WORLD' });
/** This rank alone. */
export const COMM_SELF: Comm = new Comm({ shared, context: 2, members: Int32Array.of(world.engine.rank), name: 'COMM_SELF' });

// Internal statistics hook for tests of algorithm costs (not part of the public API).
Object.defineProperty(globalThis, Symbol.for('tsmpi.statistics'), {
  value: () => ({ messagesSent: world.engine.messagesSent }),
  configurable: true,
});

let finalized = false;
/** Optional: closes this rank's connections. Communication after it fails. */
export async function finalize(): Promise<void> {
  if (finalized) return;
  finalized = true;
  world.engine.close();
  world.control?.close();
}

export { Comm, type VectorSpec } from './comm/comm.js';
export { CartComm } from './comm/cart.js';
export { computeDims } from './comm/dims.js';
export {
  Op, SUM, PROD, MAX, MIN, LAND, LOR, LXOR, BAND, BOR, BXOR, MAXLOC, MINLOC, REPLACE, NO_OP, type OpLike,
} from './coll/ops.js';
export { ANY_SOURCE, ANY_TAG, PROC_NULL, IN_PLACE, UNDEFINED, TAG_UB } from './constants.js';
export { TsmpiError, type TsmpiErrorCode } from './errors.js';
export { Request } from './p2p/request.js';
export { Status } from './p2p/status.js';
export { Wtime, Wtick, getProcessorName } from './env/time.js';
export type { TypedArray } from './wire/dtype.js';
