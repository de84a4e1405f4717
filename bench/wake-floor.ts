// The floor of the "late receive" row (bench/run.ts): what two threads of one process get out of the
// mechanism a waiting rank thread sleeps on (Atomics.waitAsync on a word of shared memory, woken by
// Atomics.notify), with no ring, framing or matching. The main thread plays the sender: it computes
// for `release` seconds while the worker sleeps, stamps the monotonic clock, bumps the word and
// notifies; the worker, woken through its event loop as a rank is, reads the clock and answers.
//
//   node dist/bench/wake-floor.js RELEASE_SECONDS COUNT   → prints {"perIteration": median, "max": …}
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { median, now } from './lib.js';

/** Words: 0 the doorbell the worker sleeps on, 1 its answer; then the stamps (float64 at byte 16). */
interface Shared { words: Int32Array; stamps: Float64Array }

function shared(buffer: SharedArrayBuffer): Shared {
  return { words: new Int32Array(buffer, 0, 4), stamps: new Float64Array(buffer, 16, 2) };
}

async function main(): Promise<void> {
  const release = Number(process.argv[2] ?? 0.002), count = Number(process.argv[3] ?? 50);
  const buffer = new SharedArrayBuffer(32);
  const { words, stamps } = shared(buffer);
  const worker = new Worker(new URL(import.meta.url), { workerData: buffer });
  await new Promise((resolve) => worker.once('message', resolve));
  const delays: number[] = [];
  for (let i = 1; i <= count; i++) {
    const start = now();
    while (now() - start < release) { /* computing while the worker sleeps */ }
    stamps[0] = now();
    Atomics.store(words, 0, i);
    Atomics.notify(words, 0);
    while (Atomics.load(words, 1) !== i) Atomics.wait(words, 1, Atomics.load(words, 1), 10);
    delays.push(stamps[1]! - stamps[0]!);
  }
  process.stdout.write(`${JSON.stringify({ perIteration: median(delays), max: Math.max(...delays) })}\n`);
  await worker.terminate();
}

function sleeper(): void {
  const { words, stamps } = shared(workerData as SharedArrayBuffer);
  let seen = 0;
  const wait = (): void => {
    const result = Atomics.waitAsync(words, 0, seen);
    if (result.async) void result.value.then(woken);
    else setImmediate(woken);
  };
  const woken = (): void => {
    const value = Atomics.load(words, 0);
    if (value !== seen) {
      seen = value;
      stamps[1] = now();
      Atomics.store(words, 1, value);
      Atomics.notify(words, 1);
    }
    wait();
  };
  parentPort!.on('message', () => {}); // keeps the worker's event loop alive between wakes
  parentPort!.postMessage('ready');
  wait();
}

if (isMainThread) await main();
else sleeper();
