// Every error the runtime raises is made here, with a stable code (API.md "Errors").
// Callers never construct TsmpiError themselves with ad-hoc codes; they use `tsmpiError`.

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

export type TsmpiErrorCode = (typeof ERROR_CODES)[number];

export class TsmpiError extends Error {
  readonly code: TsmpiErrorCode;
  constructor(code: TsmpiErrorCode, message: string, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options);
    this.name = 'TsmpiError';
    this.code = code;
  }
}

export function tsmpiError(code: TsmpiErrorCode, message: string, cause?: unknown): TsmpiError {
  // Node prints the source line where an uncaught error was made, and would print a whole line of the
  // minified runtime bundle (hundreds of KB): it omits it for a line holding this marker. The message
  // and the stack say what went wrong and where. (`/*!`: kept in the bundle, beside the construction.)
  /*! node-do-not-add-exception-line */ return new TsmpiError(code, message, cause === undefined ? undefined : { cause });
}

export function isTsmpiError(e: unknown, code?: TsmpiErrorCode): e is TsmpiError {
  return e instanceof TsmpiError && (code === undefined || e.code === code);
}

const RELAYED = Symbol.for('tsmpi.relayed');

/** Marks an error that reached this rank as a collective's error marker (its origin already told every rank). */
export function markRelayed(e: TsmpiError): TsmpiError {
  (e as unknown as Record<symbol, boolean>)[RELAYED] = true;
  return e;
}

export function isRelayed(e: unknown): boolean {
  return e instanceof TsmpiError && (e as unknown as Record<symbol, boolean>)[RELAYED] === true;
}
