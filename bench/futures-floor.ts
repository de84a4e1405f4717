// The floor of the futures group's x ** 10 row (bench/run.ts): the same map of x ** 10 over 3000
// numbers, split in two halves for two worker threads, with nothing but what the mechanism under a
// rank thread gives — shared memory and Atomics — and no messages, chunks, codec or promises of a
// runtime. Each map: the main thread (root) writes the items into shared memory, bumps each worker's
// word and notifies it, and sleeps on Atomics.waitAsync until both have answered (as a rank thread
// sleeps); each worker, also asleep on Atomics.waitAsync, computes its half into shared memory and
// notifies root; root copies the values into a new array. Timed as the futures job times its maps:
// warm, then as many maps as fit in the budget, and the serial map likewise.
//
//   node dist/bench/futures-floor.js BUDGET_SECONDS   → prints {"pool": seconds per map, "serial": …}
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { WARM_SECONDS, now } from './lib.js';

const ITEMS = 3000, WORKERS = 2;
/** Per worker, a 64-byte line of words: [0] the map number root asks for, [1] the one it finished. */
const LINE = 16;
const pow10 = (x: number) => x ** 10;

interface Shared { words: Int32Array; data: Float64Array }

function shared(control: SharedArrayBuffer, data: SharedArrayBuffer): Shared {
  return { words: new Int32Array(control), data: new Float64Array(data) };
}

/** Resolves once `words[index]` is `value`, sleeping on Atomics.waitAsync meanwhile. */
async function until(words: Int32Array, index: number, value: number): Promise<void> {
  for (let seen = Atomics.load(words, index); seen !== value; seen = Atomics.load(words, index)) {
    const result = Atomics.waitAsync(words, index, seen);
    if (result.async) await result.value;
  }
}

async function perMap(map: () => Promise<unknown> | unknown, budget: number): Promise<number> {
  for (const start = now(); now() - start < WARM_SECONDS;) await map();
  let n = 0;
  const start = now();
  while (now() - start < budget || n < 10) { await map(); n++; }
  return (now() - start) / n;
}

async function main(): Promise<void> {
  const budget = Number(process.argv[2] ?? 0.3);
  // A pending Atomics.waitAsync does not keep a thread's event loop alive; this does, until the end.
  const keepAlive = setInterval(() => {}, 1 << 30);
  const control = new SharedArrayBuffer(WORKERS * LINE * 4), dataBuffer = new SharedArrayBuffer(2 * ITEMS * 8);
  const { words, data } = shared(control, dataBuffer);
  const workers = Array.from({ length: WORKERS }, (_, k) => new Worker(new URL(import.meta.url), { workerData: { control, data: dataBuffer, k } }));
  await Promise.all(workers.map((w) => new Promise((resolve) => w.once('message', resolve))));
  const items = Array.from({ length: ITEMS }, (_, i) => i);
  let generation = 0, sink = 0;
  const poolMap = async (): Promise<number[]> => {
    generation++;
    for (let i = 0; i < ITEMS; i++) data[i] = items[i]!;
    for (let k = 0; k < WORKERS; k++) {
      Atomics.store(words, k * LINE, generation);
      Atomics.notify(words, k * LINE);
    }
    for (let k = 0; k < WORKERS; k++) await until(words, k * LINE + 1, generation);
    const out = new Array<number>(ITEMS);
    for (let i = 0; i < ITEMS; i++) out[i] = data[ITEMS + i]!;
    return out;
  };
  const pool = await perMap(async () => { sink += (await poolMap()).length; }, budget);
  const serial = await perMap(() => { sink += items.map(pow10).length; }, budget);
  process.stdout.write(`${JSON.stringify({ pool, serial, sink: sink > 0 })}\n`);
  await Promise.all(workers.map((w) => w.terminate()));
  clearInterval(keepAlive);
}

async function worker(): Promise<void> {
  const { control, data: dataBuffer, k } = workerData as { control: SharedArrayBuffer; data: SharedArrayBuffer; k: number };
  const { words, data } = shared(control, dataBuffer);
  const from = (k * ITEMS) / WORKERS, to = ((k + 1) * ITEMS) / WORKERS;
  parentPort!.on('message', () => {}); // keeps this thread's event loop alive between maps
  parentPort!.postMessage('ready');
  for (let done = 0; ; ) {
    await until(words, k * LINE, done + 1);
    done++;
    for (let i = from; i < to; i++) data[ITEMS + i] = pow10(data[i]!);
    Atomics.store(words, k * LINE + 1, done);
    Atomics.notify(words, k * LINE + 1);
  }
}

if (isMainThread) await main();
else await worker();
