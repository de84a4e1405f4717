// withExecutor: the collective that turns a communicator into a task pool for the time of a body.
//
// Start (every rank): a private communicator (comm.dup(), so the executor's messages never match the
// user's); each rank's tasks (name and source hash, and the initializer's) gathered on root, which
// compares them; root's verdict and its initargs broadcast. A difference fails on every rank
// (TSMPI_ERR_TASK_MISMATCH) before any work. Then root runs the body with an Executor while the other
// ranks serve tasks (worker.ts).
// End: when the body settles, root lets what was submitted finish (what a failed body left unsent is
// cancelled), tells every worker to stop, and all ranks leave together (a barrier on the private
// communicator, which is then freed), so that the SPMD code after withExecutor runs on every rank.
import { Comm } from '../comm/comm.js';
import { isTsmpiError, tsmpiError } from '../errors.js';
import { createExecutor, endOfBody, type Executor } from './executor.js';
import { InProcessLinks, RemoteLinks } from './links.js';
import { Pool } from './pool.js';
import { compareIdentities, identityOf, snapshotTasks, type Identity, type TaskTable } from './registry.js';
import { serveTasks } from './worker.js';

/** Options of {@link withExecutor}; give the same on every rank. */
export interface ExecutorOptions<I extends unknown[] = unknown[]> {
  /** The rank that runs the body (default 0). */
  root?: number;
  /**
   * Run on each worker (in root's process on a communicator of one rank) before its first task, with
   * root's `initargs`; may return a promise. If it throws on any worker, the executor is broken:
   * every call fails with a TsmpiError `TSMPI_ERR_BROKEN_EXECUTOR` whose cause is the initializer's
   * error. Pass the same function on every rank (it is part of the start-up check).
   */
  initializer?: (...args: I) => unknown;
  /** The initializer's arguments: root's are sent to every worker (the other ranks' are ignored). */
  initargs?: I;
}

interface StartMessage {
  verdict: string | undefined;
  initargs: unknown[];
}

/** Validates the arguments (the same on every rank, so every rank fails alike, before any message). */
function checkArguments(comm: unknown, body: unknown, options: ExecutorOptions<unknown[]>): number {
  if (!(comm instanceof Comm)) throw tsmpiError('TSMPI_ERR_COMM', `withExecutor needs a communicator (COMM_WORLD, a dup or split of it…), got ${comm === null ? 'null' : typeof comm}`);
  if (typeof body !== 'function') throw tsmpiError('TSMPI_ERR_ARG', `withExecutor needs a body function, got ${typeof body}`);
  if (options === null || typeof options !== 'object') throw tsmpiError('TSMPI_ERR_ARG', `withExecutor: options must be an object, got ${options === null ? 'null' : typeof options}`);
  const root = options.root ?? 0;
  if (typeof root !== 'number' || !Number.isInteger(root) || root < 0 || root >= comm.size) {
    throw tsmpiError('TSMPI_ERR_ROOT', `withExecutor: root ${String(root)} is not a rank of the communicator (0 … ${comm.size - 1})`);
  }
  if (options.initializer !== undefined && typeof options.initializer !== 'function') {
    throw tsmpiError('TSMPI_ERR_ARG', `withExecutor: initializer must be a function, got ${typeof options.initializer}`);
  }
  if (options.initargs !== undefined && !Array.isArray(options.initargs)) {
    throw tsmpiError('TSMPI_ERR_ARG', `withExecutor: initargs must be an array, got ${typeof options.initargs}`);
  }
  return root;
}

/**
 * Runs `body(executor)` on root with the other ranks of `comm` as its workers. Collective: every rank
 * of `comm` calls it, with the same options. When the body settles, every rank returns (after the
 * calls it submitted have finished): root with the body's value (or its error), the others with
 * undefined. On a communicator of one rank, tasks run in this process.
 *
 * Root mostly waits while the workers compute, and waits off the CPU, so give the job one rank more
 * than it has cores (`tsmpirun -np $((cores + 1))`).
 *
 * @throws TsmpiError, on every rank: `TSMPI_ERR_TASK_MISMATCH` when the ranks registered different
 *   tasks (or initializers), naming the tasks and ranks; `TSMPI_ERR_SERIALIZE` when root's initargs
 *   cannot be sent; `TSMPI_ERR_COMM`, `TSMPI_ERR_ROOT`, `TSMPI_ERR_ARG` for bad arguments.
 *
 * @example
 * ```ts
 * import { COMM_WORLD } from 'tsmpi';
 * import { task, withExecutor } from 'tsmpi/futures';
 *
 * const isPrime = task('isPrime', (n: number) => {
 *   for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
 *   return n > 1;
 * });
 * const numbers = Array.from({ length: 100_000 }, (_, i) => i);
 * const flags = await withExecutor(COMM_WORLD, (ex) => ex.mapAll(isPrime, numbers));
 * if (COMM_WORLD.rank === 0) console.log(flags!.filter(Boolean).length, 'primes');
 * ```
 */
export async function withExecutor<T, I extends unknown[] = unknown[]>(
  comm: Comm, body: (executor: Executor) => T | PromiseLike<T>, options: ExecutorOptions<I> = {},
): Promise<T | undefined> {
  const root = checkArguments(comm, body, options as ExecutorOptions<unknown[]>);
  const table = snapshotTasks();
  const initializer = options.initializer as ((...args: unknown[]) => unknown) | undefined;
  const own = await comm.dup();
  try {
    const identities = await own.gather<Identity>(identityOf(table, { '(initializer)': initializer }), root);
    const start = await own.bcast<StartMessage | undefined>(
      own.rank === root ? { verdict: compareIdentities(identities!), initargs: options.initargs ?? [] } : undefined, root,
    ).catch((e: unknown) => {
      // Root's initargs cannot be serialized (every rank learns it from the broadcast).
      if (!isTsmpiError(e, 'TSMPI_ERR_SERIALIZE')) throw e;
      throw tsmpiError('TSMPI_ERR_SERIALIZE', `withExecutor: root's initargs cannot be sent to the workers: ${e.message.replace(/^TSMPI_ERR_SERIALIZE: /, '').replace(/ at value\.initargs/, ' at initargs')}`, e);
    });
    if (start!.verdict !== undefined) throw tsmpiError('TSMPI_ERR_TASK_MISMATCH', start!.verdict);
    if (own.rank !== root) {
      await serveTasks(own, root, table, initializer, start!.initargs);
      await own.barrier();
      return undefined;
    }
    return await runRoot(own, root, table, body, initializer, start!.initargs);
  } finally {
    own.free();
  }
}

async function runRoot<T>(
  comm: Comm, root: number, table: TaskTable, body: (executor: Executor) => T | PromiseLike<T>,
  initializer: ((...args: unknown[]) => unknown) | undefined, initargs: unknown[],
): Promise<T> {
  const links = comm.size === 1 ? new InProcessLinks(root, table, initializer, initargs) : new RemoteLinks(comm, root);
  const pool = new Pool(links, comm.size);
  const executor = createExecutor(pool, table);
  let value: T;
  try {
    value = await body(executor);
  } catch (e) {
    await endOfBody(executor, true);
    await stop(comm, pool);
    throw e;
  }
  await endOfBody(executor, false);
  await stop(comm, pool);
  return value;
}

/** Every worker stops, then all ranks leave together; a pool that failed (a lost worker) throws its error. */
async function stop(comm: Comm, pool: Pool): Promise<void> {
  if (pool.failure !== undefined) throw pool.failure;
  if (comm.size > 1) pool.stop();
  await comm.barrier();
}
