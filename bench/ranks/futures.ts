// Task pool measurements (tsmpi/futures) for the benchmark driver's futures group: run as
// `tsmpirun -np 3` (root and two workers) and told what to measure one command at a time on rank
// 0's stdin (serve.ts). Each pool command starts an executor on COMM_WORLD, warms it up for
// WARM_SECONDS, then times as many maps as fit in the budget; root measures the serial figure in the
// same command (while the workers wait), first or second as the command says.
//
// kinds:  roundtrip  ranks 0 and 1 ping-pong a number with send/recv    → seconds per round trip
//         per-task   mapAll of a task returning its argument, chunksize 1, 2000 items → seconds per task
//         pow10      mapAll of x => x ** 10 over 0 … 2999, chunksize 'auto' → { pool, serial } seconds per map
//         primes     examples/primes-pool.ts's check of 20000 numbers, 'auto' → { pool, serial } seconds per map
import { COMM_WORLD as comm } from 'tsmpi';
import { task, withExecutor, type Executor } from 'tsmpi/futures';
import { isPrime, numbersToTest } from '../../examples/primality.js';
import { WARM_SECONDS, now } from '../lib.js';
import { serveCommands } from './serve.js';

export interface FuturesCommand {
  kind: 'roundtrip' | 'per-task' | 'pow10' | 'primes' | 'quit';
  budget: number;
  /** pow10, primes: the pool's measurement before the serial one. */
  poolFirst?: boolean;
}

const pow10 = (x: number) => x ** 10;
const echo = task('echo', (x: number) => x);
const pow10Task = task('pow10', pow10);
const primeTask = task('isPrime', isPrime);

/** Anything computed goes here, so that no measured loop can be optimized away. */
let sink = 0;

/** Seconds per call of `body`: warm-up for WARM_SECONDS, then as many calls as fit in `budget` (3 to 10 000). */
async function perCall(body: () => unknown, budget: number): Promise<number> {
  const warmStart = now();
  let calls = 0;
  while (now() - warmStart < WARM_SECONDS || calls < 2) {
    await body();
    calls++;
  }
  const estimate = (now() - warmStart) / calls;
  const n = Math.max(3, Math.min(10_000, Math.ceil(budget / estimate)));
  const t0 = now();
  for (let i = 0; i < n; i++) await body();
  return (now() - t0) / n;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

async function roundTrip(budget: number): Promise<number | undefined> {
  // Rank 0 decides how many round trips (0: go on warming), rank 1 follows.
  const once = async (n: number) => {
    for (let i = 0; i < n; i++) {
      if (comm.rank === 0) {
        await comm.send(i, 1, 1);
        sink += await comm.recv<number>(1, 1);
      } else {
        await comm.send(await comm.recv<number>(0, 1), 0, 1);
      }
    }
  };
  if (comm.rank > 1) return undefined;
  const warmStart = now();
  let n = 0;
  while (n === 0) {
    const t0 = now();
    await once(500);
    if (comm.rank === 0) {
      n = now() - warmStart < WARM_SECONDS ? 0 : Math.max(200, Math.ceil(budget / ((now() - t0) / 500)));
      await comm.send(n, 1, 2);
    } else {
      n = await comm.recv<number>(0, 2);
    }
  }
  const t0 = now();
  await once(n);
  return (now() - t0) / n;
}

/** The pool's and the serial seconds per map, in the order the command says. */
async function againstSerial(ex: Executor, cmd: FuturesCommand, pool: () => Promise<unknown[]>, serial: () => unknown[]) {
  const result = { pool: 0, serial: 0 };
  const measurePool = async () => { result.pool = await perCall(async () => { sink += (await pool()).length; }, cmd.budget); };
  const measureSerial = async () => { result.serial = await perCall(() => { sink += serial().length; }, cmd.budget); };
  if (cmd.poolFirst) { await measurePool(); await measureSerial(); } else { await measureSerial(); await measurePool(); }
  return { ...result, workers: ex.numWorkers };
}

async function measure(cmd: FuturesCommand): Promise<unknown> {
  switch (cmd.kind) {
    case 'roundtrip':
      return comm.rank === 0 ? { perIteration: await roundTrip(cmd.budget) } : roundTrip(cmd.budget);
    case 'per-task':
      return withExecutor(comm, async (ex) => {
        const items = range(2000);
        const perMap = await perCall(() => ex.mapAll(echo, items, { chunksize: 1 }), cmd.budget);
        return { perIteration: perMap / items.length, workers: ex.numWorkers };
      });
    case 'pow10': {
      const items = range(3000);
      return withExecutor(comm, (ex) => againstSerial(ex, cmd, () => ex.mapAll(pow10Task, items), () => items.map(pow10)));
    }
    case 'primes': {
      const numbers = numbersToTest(20000);
      return withExecutor(comm, (ex) => againstSerial(ex, cmd, () => ex.mapAll(primeTask, numbers), () => numbers.map(isPrime)));
    }
    default:
      throw new Error(`unknown kind ${cmd.kind}`);
  }
}

await serveCommands<FuturesCommand>((cmd) => cmd.kind === 'quit', measure);
if (sink === -1) console.log('never');
