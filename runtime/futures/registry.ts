// The task registry of tsmpi/futures. Functions cannot be sent between processes, but every rank runs
// the same program: each rank registers the same tasks at top level, by name, and root ships a task's
// name (its index in the list the ranks agreed on) with the arguments. When an executor starts, the
// ranks compare their registries (identityOf, compareIdentities): a task missing on some rank, or
// registered with different source text, fails on every rank before any work is done.
import { createHash } from 'node:crypto';
import { tsmpiError } from '../errors.js';

/**
 * A function registered with {@link task}: call it to run it here; pass it to an executor's `submit`,
 * `map`, `starmap` or `mapAll` to run it on a worker.
 */
export interface Task<A extends unknown[] = unknown[], R = unknown> {
  /** Runs the registered function here, with these arguments, and returns what it returns. */
  (...args: A): R;
  /** The name the task was registered under, the same on every rank. */
  readonly taskName: string;
}

/** Any function; tasks are called with whatever arguments the user passes. */
type AnyFunction = (...args: any[]) => unknown;

interface Entry {
  readonly name: string;
  readonly fn: AnyFunction;
  readonly task: Task;
  /** Hash of fn.toString(), computed when an executor first needs it. */
  hash?: string;
}

const byName = new Map<string, Entry>();
/** The registered function and its Task wrapper both lead to the entry. */
const byFunction = new WeakMap<AnyFunction, Entry>();

/**
 * Registers `fn` as a task named `name` (or `fn.name`) and returns it as a {@link Task}.
 *
 * Register every task on every rank, at the top level of the program (not inside `if (rank === …)`,
 * nor inside the executor's body): when {@link withExecutor} starts, the ranks check that they
 * registered the same tasks, by name and source text, and fail together if not
 * (`TSMPI_ERR_TASK_MISMATCH`). Calling the returned task runs `fn` here, as a plain call.
 *
 * A name given explicitly is safest: `task(fn)` uses `fn.name`, which an anonymous arrow function
 * lacks and which a bundler may change (the same way on every rank, so it still works).
 *
 * @throws TsmpiError `TSMPI_ERR_TASK`: no usable name, `fn` is not a function, or the name is
 *   already registered for another function (registering the same function again returns its task).
 *
 * @example
 * ```ts
 * import { task } from 'tsmpi/futures';
 * export const square = task('square', (x: number) => x * x);
 * square(7); // 49, run here
 * ```
 */
export function task<A extends unknown[], R>(name: string, fn: (...args: A) => R): Task<A, R>;
/**
 * Registers `fn` as a task named `fn.name` (see the other signature).
 *
 * @throws TsmpiError `TSMPI_ERR_TASK` when `fn` has no name (an anonymous function).
 */
export function task<A extends unknown[], R>(fn: (...args: A) => R): Task<A, R>;
export function task(nameOrFn: string | AnyFunction, maybeFn?: AnyFunction): Task {
  const explicit = typeof nameOrFn === 'string';
  const fn = explicit ? maybeFn : nameOrFn;
  if (typeof fn !== 'function') {
    throw tsmpiError('TSMPI_ERR_TASK', `task(${explicit ? 'name, fn' : 'fn'}) needs a function, got ${fn === null ? 'null' : typeof fn}`);
  }
  const name = explicit ? nameOrFn : fn.name;
  if (typeof name !== 'string' || name === '') {
    throw tsmpiError('TSMPI_ERR_TASK', explicit
      ? 'a task name must be a non-empty string'
      : 'this function has no name (an anonymous function?): register it as task(name, fn)');
  }
  const existing = byName.get(name);
  if (existing) {
    if (existing.fn === fn || existing.task === fn) return existing.task;
    throw tsmpiError('TSMPI_ERR_TASK', `a task named '${name}' is already registered (with another function)`);
  }
  const wrapper = function (this: unknown, ...args: unknown[]) {
    return fn.apply(this, args);
  };
  Object.defineProperty(wrapper, 'name', { value: name });
  Object.defineProperty(wrapper, 'taskName', { value: name, enumerable: true });
  const entry: Entry = { name, fn, task: wrapper as unknown as Task };
  byName.set(name, entry);
  byFunction.set(fn, entry);
  byFunction.set(wrapper, entry);
  return entry.task;
}

/** A task or a function registered as one. */
export type TaskLike<A extends unknown[] = unknown[], R = unknown> = Task<A, R> | ((...args: A) => R);

/** The registered task `t` stands for, or undefined when it is none. */
export function registeredTask(t: unknown): { name: string } | undefined {
  return typeof t === 'function' ? byFunction.get(t as AnyFunction) : undefined;
}

// -------------------------------------------------------------------------------------------------
// What the ranks compare when an executor starts

/** A rank's tasks as [name, hash of the source text], sorted by name; extra entries (the initializer) included. */
export type Identity = [name: string, hash: string][];

function hashOf(fn: AnyFunction): string {
  return createHash('sha256').update(Function.prototype.toString.call(fn)).digest('base64url').slice(0, 22);
}

/** The functions of the tasks registered now, in name order: what an executor ships by index. */
export interface TaskTable {
  readonly names: readonly string[];
  readonly functions: readonly AnyFunction[];
  readonly index: ReadonlyMap<string, number>;
}

export function snapshotTasks(): TaskTable {
  const entries = [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return {
    names: entries.map((e) => e.name),
    functions: entries.map((e) => e.fn),
    index: new Map(entries.map((e, i) => [e.name, i])),
  };
}

/** This rank's identity for `table`, plus `extra` named functions (e.g. the initializer). */
export function identityOf(table: TaskTable, extra: Record<string, AnyFunction | undefined> = {}): Identity {
  const identity: Identity = table.names.map((name) => {
    const entry = byName.get(name)!;
    entry.hash ??= hashOf(entry.fn);
    return [name, entry.hash];
  });
  for (const [name, fn] of Object.entries(extra)) if (fn) identity.push([name, hashOf(fn)]);
  return identity;
}

/** "rank 3", "ranks 0, 2", "ranks 0–7 (8 ranks)". */
function ranksText(ranks: readonly number[]): string {
  if (ranks.length === 1) return `rank ${ranks[0]}`;
  const contiguous = ranks.every((r, i) => i === 0 || r === ranks[i - 1]! + 1);
  if (contiguous && ranks.length > 3) return `ranks ${ranks[0]}–${ranks.at(-1)}`;
  const shown = ranks.length > 8 ? [...ranks.slice(0, 8).map(String), `… (${ranks.length} ranks)`] : ranks.map(String);
  return `ranks ${shown.join(', ')}`;
}

/**
 * undefined when every rank's identity is the same; else a message naming each task that differs
 * (up to 5) and the ranks that lack it or have other source text.
 */
export function compareIdentities(identities: readonly Identity[]): string | undefined {
  const sources = new Map<string, Map<string, number[]>>(); // name → hash → ranks
  identities.forEach((identity, rank) => {
    for (const [name, hash] of identity) {
      let byHash = sources.get(name);
      if (!byHash) sources.set(name, byHash = new Map());
      let ranks = byHash.get(hash);
      if (!ranks) byHash.set(hash, ranks = []);
      ranks.push(rank);
    }
  });
  const problems: string[] = [];
  for (const [name, byHash] of [...sources].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const having = [...byHash.values()].flat().sort((a, b) => a - b);
    const lacking = identities.map((_, r) => r).filter((r) => !having.includes(r));
    if (lacking.length > 0) {
      problems.push(`'${name}' is registered on ${ranksText(having)} but not on ${ranksText(lacking)}`);
    } else if (byHash.size > 1) {
      const groups = [...byHash.values()].map((ranks) => ranksText(ranks));
      problems.push(`'${name}' has different source text on ${groups.join(' and on ')}`);
    }
  }
  if (problems.length === 0) return undefined;
  const more = problems.length > 5 ? ` (and ${problems.length - 5} more)` : '';
  return `the ranks registered different tasks: ${problems.slice(0, 5).join('; ')}${more}. `
    + 'Register every task on every rank, at the top level of the program, before withExecutor';
}
