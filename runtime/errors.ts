// Every error the runtime raises is made here, with a stable code (API.md "Errors").
// Callers never construct TsmpiError themselves with ad-hoc codes; they use `tsmpiError`.

/** Every code a TsmpiError can carry ({@link TsmpiErrorCode} is its element type). Not exported by 'tsmpi'. */
export const ERROR_CODES = [
  'TSMPI_ERR_RANK',
  'TSMPI_ERR_TAG',
  'TSMPI_ERR_ROOT',
  'TSMPI_ERR_COUNT',
  'TSMPI_ERR_TYPE',
  'TSMPI_ERR_TRUNCATE',
  'TSMPI_ERR_OP',
  'TSMPI_ERR_COMM',
  'TSMPI_ERR_DIMS',
  'TSMPI_ERR_SERIALIZE',
  'TSMPI_ERR_PEER_LOST',
  'TSMPI_ERR_PEER_FINISHED',
  'TSMPI_ERR_COLL_MISMATCH',
  'TSMPI_ERR_PROTOCOL',
  'TSMPI_ERR_AUTH',
  'TSMPI_ERR_ABORTED',
  'TSMPI_ERR_ARG',
  'TSMPI_ERR_INTERN',
  // Task pools (tsmpi/futures)
  'TSMPI_ERR_TASK',
  'TSMPI_ERR_TASK_MISMATCH',
  'TSMPI_ERR_SHUTDOWN',
  'TSMPI_ERR_BROKEN_EXECUTOR',
  'TSMPI_ERR_TIMEOUT',
  'TSMPI_ERR_CANCELLED',
] as const;

/**
 * The stable code of a {@link TsmpiError}: test `err.code`, not the message, which may change.
 *
 * - `TSMPI_ERR_RANK`: a rank out of range for the communicator (destination, source, Cartesian rank or
 *   coordinate past a non-periodic edge).
 * - `TSMPI_ERR_TAG`: a tag that is not an integer in 0 … {@link TAG_UB} (or {@link ANY_TAG} where a
 *   receive allows it).
 * - `TSMPI_ERR_ROOT`: a root that is not a rank of the communicator.
 * - `TSMPI_ERR_COUNT`: a buffer or list of the wrong length for the call (a receive count that does not
 *   fit is `TSMPI_ERR_TRUNCATE`).
 * - `TSMPI_ERR_TYPE`: a value of the wrong kind (a typed call without a typed array, element types that
 *   differ between sender and receiver, an object message received with `Recv`…).
 * - `TSMPI_ERR_TRUNCATE`: a message longer than the receive buffer.
 * - `TSMPI_ERR_OP`: a reduction that cannot combine the values (bitwise ops on floats, a user op that
 *   threw or returned the wrong shape…).
 * - `TSMPI_ERR_COMM`: a communicator that was freed, or used after {@link finalize}.
 * - `TSMPI_ERR_DIMS`: a bad Cartesian grid shape, or one larger than the communicator.
 * - `TSMPI_ERR_SERIALIZE`: a value that cannot be sent exactly (a function, a symbol, an object whose
 *   state lives in internal slots such as a WeakMap or a Promise, a value nested too deep…).
 * - `TSMPI_ERR_PEER_LOST`: a rank this one talks to has failed or closed its connection.
 * - `TSMPI_ERR_PEER_FINISHED`: this rank waits for a rank that has already finished its program.
 * - `TSMPI_ERR_COLL_MISMATCH`: the ranks called different collectives, or the same one with different
 *   roots, as their n-th collective on a communicator.
 * - `TSMPI_ERR_PROTOCOL`: a malformed message from a peer (never expected between ranks of one version).
 * - `TSMPI_ERR_AUTH`: a peer or launcher that did not prove it belongs to the job.
 * - `TSMPI_ERR_ABORTED`: the job was aborted (through a PMI launcher).
 * - `TSMPI_ERR_ARG`: a malformed argument (a bad split colour, `IN_PLACE` where it is not allowed, a bad
 *   option…).
 * - `TSMPI_ERR_INTERN`: a bug in tsmpi; please report it.
 *
 * Task pools (`tsmpi/futures`):
 *
 * - `TSMPI_ERR_TASK`: a function that is not a registered task (or was registered after the executor
 *   started), or a bad registration (no name, a name taken by another function).
 * - `TSMPI_ERR_TASK_MISMATCH`: the ranks registered different tasks.
 * - `TSMPI_ERR_SHUTDOWN`: a call on an executor that was shut down or whose body is over.
 * - `TSMPI_ERR_BROKEN_EXECUTOR`: the executor's initializer failed on a worker.
 * - `TSMPI_ERR_TIMEOUT`: a `timeout` option ran out.
 * - `TSMPI_ERR_CANCELLED`: a call cancelled before it was sent to a worker.
 */
export type TsmpiErrorCode = (typeof ERROR_CODES)[number];

/**
 * Every error the runtime raises: an `Error` with a stable {@link TsmpiError.code | code}. Its message
 * starts with the code (`"TSMPI_ERR_RANK: destination rank 7 is not …"`). Bad arguments fail at the
 * call, before anything is sent, and never hang the job. An uncaught TsmpiError (like any uncaught
 * error) ends the whole job, printing the rank's error.
 *
 * @example
 * ```ts
 * import { COMM_WORLD as comm, TsmpiError } from 'tsmpi';
 *
 * try {
 *   await comm.send('hello', comm.size); // no such rank
 * } catch (e) {
 *   if (e instanceof TsmpiError && e.code === 'TSMPI_ERR_RANK') console.log('bad rank:', e.message);
 *   else throw e;
 * }
 * ```
 */
export class TsmpiError extends Error {
  /** What went wrong, as one of the stable codes of {@link TsmpiErrorCode}. */
  readonly code: TsmpiErrorCode;
  /**
   * Errors are made by the runtime; a program may make one too (for instance in a test double).
   *
   * @param code - the stable code; the error's message becomes "CODE: message".
   * @param message - what went wrong, for people.
   * @param options - `cause`: the error this one comes from, as `Error`'s.
   */
  constructor(code: TsmpiErrorCode, message: string, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options);
    this.name = 'TsmpiError';
    this.code = code;
  }
}

/** @internal Makes a TsmpiError: the one way the runtime raises errors. */
export function tsmpiError(code: TsmpiErrorCode, message: string, cause?: unknown): TsmpiError {
  // Node prints the source line where an uncaught error was made, and would print a whole line of the
  // minified runtime bundle (hundreds of KB): it omits it for a line holding this marker. The message
  // and the stack say what went wrong and where. (`/*!`: kept in the bundle, beside the construction.)
  /*! node-do-not-add-exception-line */ return new TsmpiError(code, message, cause === undefined ? undefined : { cause });
}

/** @internal Whether `e` is a TsmpiError (with `code`, when given). */
export function isTsmpiError(e: unknown, code?: TsmpiErrorCode): e is TsmpiError {
  return e instanceof TsmpiError && (code === undefined || e.code === code);
}

const RELAYED = Symbol.for('tsmpi.relayed');

/** @internal Marks an error that reached this rank as a collective's error marker (its origin already told every rank). */
export function markRelayed(e: TsmpiError): TsmpiError {
  (e as unknown as Record<symbol, boolean>)[RELAYED] = true;
  return e;
}

/** @internal Whether `e` was relayed by markRelayed. */
export function isRelayed(e: unknown): boolean {
  return e instanceof TsmpiError && (e as unknown as Record<symbol, boolean>)[RELAYED] === true;
}
