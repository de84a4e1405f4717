/**
 * MPI-style message passing for SPMD programs written in TypeScript: every rank runs the same program
 * and tells itself apart by {@link Comm.rank | COMM_WORLD.rank}. Importing `tsmpi` joins the job:
 * under `tsmpirun` (or a PMI launcher such as `srun --mpi=pmi2`) the rank connects to its peers; run
 * alone (`node prog.js`, `npx tsx prog.ts`) the program is a job of one rank. The program ends by
 * itself when its code is done; {@link finalize} is optional.
 *
 * Start from {@link COMM_WORLD} and the {@link Comm} methods: point-to-point (`send`/`recv`,
 * `Send`/`Recv`, `isend`/`irecv` with {@link Request}), collectives (`bcast`, `reduce`, `allreduce`,
 * `gather`, `scatter`, … with the ops of {@link Op}), and new communicators (`dup`, `split`,
 * `createCart`). Every error is a {@link TsmpiError} with a stable code.
 *
 * @example
 * ```ts
 * // auc.ts — run with: tsmpirun -np 4 auc.ts 300000000
 * import { COMM_WORLD as comm, SUM } from 'tsmpi';
 *
 * const n = Number(process.argv[2] ?? 1e8);
 * const dx = 3 / n, width = 3 / comm.size;
 * let x = comm.rank * width, a = 0;
 * for (let i = 0; i < n / comm.size; i++) { a += (0.7 * x * x * x - 2 * x * x + 4) * dx; x += dx; }
 * const area = await comm.reduce(a, SUM, 0);
 * if (comm.rank === 0) console.log('The area is', area);
 * ```
 *
 * @module tsmpi
 */
// tsmpi: the only public entry of the runtime. Importing it joins the job (top-level await): under
// tsmpirun or a PMI launcher the rank connects to its peers; run alone it is a job of one rank.
// (tsmpirun's ranks import the same names from dist/tsmpi.js, built from runtime/library.ts.)
import { joinWorld } from './world.js';

const world = await joinWorld();

/**
 * Every rank of the job (MPI_COMM_WORLD): the communicator a program starts from.
 *
 * @example
 * ```ts
 * import { COMM_WORLD as comm } from 'tsmpi';
 * console.log(`rank ${comm.rank} of ${comm.size}`);
 * ```
 */
export const COMM_WORLD = world.COMM_WORLD;
/** This rank alone (MPI_COMM_SELF): a communicator of size 1. */
export const COMM_SELF = world.COMM_SELF;
/**
 * Optional: ends this rank's part in the job (MPI_Finalize). It waits until every rank has finished
 * (serving its peers meanwhile, so that no rank fails because another is done), then closes this
 * rank's connections. Communication after it fails with `TSMPI_ERR_COMM`. A rank finalizes by itself
 * once its code is done, so most programs never call it; calling it again returns the same promise.
 * Messages nobody received are not an error.
 *
 * @example
 * ```ts
 * import { COMM_WORLD as comm, finalize } from 'tsmpi';
 *
 * await comm.barrier();
 * await finalize(); // every rank has finished here
 * console.log(`rank ${comm.rank} done`);
 * ```
 */
export const finalize = world.finalize;

export {
  Comm, type VectorSpec, CartComm, computeDims,
  Op, SUM, PROD, MAX, MIN, LAND, LOR, LXOR, BAND, BOR, BXOR, MAXLOC, MINLOC, REPLACE, NO_OP, type OpLike,
  ANY_SOURCE, ANY_TAG, PROC_NULL, IN_PLACE, UNDEFINED, TAG_UB,
  TsmpiError, type TsmpiErrorCode, Request, Status, Wtime, Wtick, getProcessorName, type TypedArray, allocShared,
} from './library.js';
