/**
 * Task pools over a communicator, for work that is embarrassingly parallel (like Python's
 * `concurrent.futures` and `mpi4py.futures`). Register tasks on every rank with {@link task}, at the
 * top level of the program; then {@link withExecutor | withExecutor(comm, body)} runs `body(executor)`
 * on root while the other ranks serve the tasks it submits, and every rank goes on together when the
 * body is over. The guide is docs/futures.md in the repository.
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
 *
 * @module tsmpi/futures
 */
// tsmpi/futures: task pools over a communicator, for work that is embarrassingly parallel (the
// package's `./futures` export; docs/futures.md is the guide). Register tasks on every rank with
// `task`, then `withExecutor(comm, body)`: root runs `body(executor)` while the other ranks serve the
// tasks it submits, and every rank goes on together when the body is over.
//
//   import { COMM_WORLD } from 'tsmpi';
//   import { task, withExecutor } from 'tsmpi/futures';
//   const isPrime = task('isPrime', (n: number) => …);
//   const flags = await withExecutor(COMM_WORLD, (ex) => ex.mapAll(isPrime, numbers));
//
// Importing this module has no side effects (the runtime bundle holds it next to the library; see
// launcher/transform.ts); importing 'tsmpi' is what joins the job.
export { task, type Task, type TaskLike } from './registry.js';
export { withExecutor, type ExecutorOptions } from './with-executor.js';
export { Executor, type ShutdownOptions } from './executor.js';
export { Future, asCompleted, wait, type AsCompletedOptions, type WaitOptions, type WaitResult, type ReturnWhen } from './future.js';
export type { MapOptions, MapInput, Progress } from './map-run.js';
export type { Chunksize } from './chunking.js';
