// Error transport of tsmpi/futures: what a task threw on a worker, sent to root as a plain value and
// rebuilt there, as mpi4py.futures does with its RemoteTraceback.
//
// Sent: name, message, stack, `code` and the other own enumerable properties (each as it is when the
// object codec can carry it, else as String(value)), an AggregateError's `errors` and an error's own
// `cause` (both rebuilt the same way), and where it happened. Rebuilt: the built-in classes (Error,
// TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError, AggregateError) as that
// class, a TsmpiError with a known code as a TsmpiError, anything else as an Error whose `name` is
// kept. The rebuilt error's `stack` is the worker's with a last line "at task 'T' (worker R of S on
// HOST)" (an uncaught error prints its stack only), `rank` and `task` say where it came from, and its
// `cause` is a RemoteTraceback: an Error whose stack starts with "worker R of S on HOST" followed by
// the worker's stack (the task error's own cause, if any, is that RemoteTraceback's cause). A thrown
// value that is not an Error arrives as that value.
import { ERROR_CODES, TsmpiError, type TsmpiErrorCode } from '../errors.js';

/** Where an error was thrown: a worker (its rank and the communicator's size, its host) running a task. */
export interface ErrorOrigin {
  rank: number;
  size: number;
  host: string;
  task: string;
}

/** A thrown value as it travels from a worker to root. */
export type EncodedError =
  | {
    error: true;
    name: string;
    message: string;
    stack: string;
    /** The built-in class to rebuild as ('' for Error). */
    builtin: string;
    props: Record<string, unknown>;
    errors?: EncodedError[];
    cause?: EncodedError;
  }
  | { error: false; value: unknown };

/** The built-in error classes rebuilt as themselves (Error, the default, is not listed). */
const BUILTINS: Readonly<Record<string, { prototype: Error; new (message: string): Error }>> = Object.assign(Object.create(null) as object, {
  TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError, AggregateError,
});
/** Properties every error has or that are transported on their own. */
const OWN_FIELDS = new Set(['name', 'message', 'stack', 'cause', 'errors']);
/** Nesting beyond which a property value is sent as text. */
const MAX_DEPTH = 32;

/**
 * Whether the object codec (runtime/p2p/codec.ts) can carry `value` exactly: a conservative check of
 * the same rules (no functions or symbols, no cycles, no exotic objects), so that one bad property
 * turns into text rather than failing the whole report.
 */
export function carriable(value: unknown, depth = 0, ancestors: Set<object> = new Set()): boolean {
  switch (typeof value) {
    case 'string': case 'number': case 'boolean': case 'undefined': case 'bigint':
      return true;
    case 'object':
      break;
    default:
      return false;
  }
  if (value === null) return true;
  if (depth > MAX_DEPTH || ancestors.has(value)) return false;
  if ((ArrayBuffer.isView(value) || value instanceof ArrayBuffer || value instanceof Date || value instanceof RegExp)) return true;
  ancestors.add(value);
  try {
    const ok = (v: unknown) => carriable(v, depth + 1, ancestors);
    if (Array.isArray(value)) return value.every(ok);
    if (value instanceof Map) return [...value].every(([k, v]) => ok(k) && ok(v));
    if (value instanceof Set) return [...value].every(ok);
    if (value instanceof Error) return ok((value as { cause?: unknown }).cause);
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null && Object.prototype.toString.call(value) !== '[object Object]') return false;
    return Object.values(value).every(ok);
  } finally {
    ancestors.delete(value);
  }
}

function textOf(value: unknown): string {
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** The built-in class `error` is an instance of, nearest first ('' for Error itself or none). */
function nearestBuiltin(error: Error): string {
  for (let proto = Object.getPrototypeOf(error); proto !== null && proto !== Error.prototype; proto = Object.getPrototypeOf(proto)) {
    const name = Object.keys(BUILTINS).find((n) => BUILTINS[n]!.prototype === proto);
    if (name !== undefined) return name;
  }
  return '';
}

/** `thrown` as it can travel; never throws. */
export function encodeError(thrown: unknown, depth = 0): EncodedError {
  if (!(thrown instanceof Error)) return { error: false, value: carriable(thrown) ? thrown : textOf(thrown) };
  const props: Record<string, unknown> = {};
  for (const key of Object.keys(thrown)) {
    if (OWN_FIELDS.has(key)) continue;
    let value: unknown;
    try {
      value = (thrown as unknown as Record<string, unknown>)[key];
    } catch (e) {
      value = `(reading it threw ${textOf(e)})`;
    }
    props[key] = carriable(value) ? value : textOf(value);
  }
  const encoded: EncodedError = {
    error: true,
    name: textOf(thrown.name),
    message: textOf(thrown.message),
    stack: typeof thrown.stack === 'string' ? thrown.stack : `${textOf(thrown.name)}: ${textOf(thrown.message)}`,
    builtin: nearestBuiltin(thrown),
    props,
  };
  if (depth < MAX_DEPTH) {
    if (thrown instanceof AggregateError && Array.isArray(thrown.errors)) encoded.errors = thrown.errors.map((e) => encodeError(e, depth + 1));
    if ('cause' in thrown && thrown.cause !== undefined) encoded.cause = encodeError(thrown.cause, depth + 1);
  }
  return encoded;
}

/** An encoded error rebuilt as an error of its own (no origin: nested errors and causes). */
function rebuild(encoded: EncodedError): unknown {
  if (!encoded.error) return encoded.value;
  let error: Error;
  const code = encoded.props.code;
  if (encoded.builtin === 'AggregateError') {
    error = new AggregateError((encoded.errors ?? []).map(rebuild), encoded.message);
  } else if (encoded.name === 'TsmpiError' && (ERROR_CODES as readonly unknown[]).includes(code)) {
    error = new TsmpiError(code as TsmpiErrorCode, '');
    error.message = encoded.message;
  } else {
    error = new ((encoded.builtin && BUILTINS[encoded.builtin]) || Error)(encoded.message);
  }
  if (error.name !== encoded.name) error.name = encoded.name;
  for (const [key, value] of Object.entries(encoded.props)) {
    Object.defineProperty(error, key, { value, writable: true, enumerable: true, configurable: true });
  }
  error.stack = encoded.stack;
  if (encoded.cause) setCause(error, rebuild(encoded.cause));
  return error;
}

function setCause(error: Error, cause: unknown): void {
  // As `new Error(message, { cause })` makes it: own, not enumerable.
  Object.defineProperty(error, 'cause', { value: cause, writable: true, enumerable: false, configurable: true });
}

/** The header line of the RemoteTraceback of an error from `origin`. */
export function remoteHeader(origin: Pick<ErrorOrigin, 'rank' | 'size' | 'host'>): string {
  return `worker ${origin.rank} of ${origin.size} on ${origin.host}`;
}

/**
 * What the awaiting call on root rejects with: the task's error rebuilt, `rank` and `task` set, and
 * a RemoteTraceback as its cause (see the file's header). A value that is not an Error as it is.
 */
export function decodeError(encoded: EncodedError, origin: ErrorOrigin): unknown {
  const error = rebuild(encoded);
  if (!(error instanceof Error)) return error;
  const header = remoteHeader(origin);
  const traceback = new Error(header);
  traceback.name = 'RemoteTraceback';
  traceback.stack = `${header}\n${error.stack ?? ''}`;
  // What an uncaught error prints is its stack alone: the last frame says where it ran.
  error.stack = `${error.stack ?? `${error.name}: ${error.message}`}\n    at task '${origin.task}' (${header})`;
  if ('cause' in error) setCause(traceback, error.cause);
  setCause(error, traceback);
  Object.defineProperty(error, 'rank', { value: origin.rank, writable: true, enumerable: true, configurable: true });
  Object.defineProperty(error, 'task', { value: origin.task, writable: true, enumerable: true, configurable: true });
  return error;
}
