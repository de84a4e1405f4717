// Prime validation with a task pool (tsmpi/futures): examples/primes.ts's check of a list of large
// numbers, where rank 0 hands the numbers out in chunks and the other ranks test them as they come,
// rather than each rank taking one fixed share. Rank 0 prints a progress line as results arrive, then
// how many are prime and the largest.
//
//   tsmpirun -np 3 examples/primes-pool.ts [count=20000] [--list]
//   → Found 1347 primes among 20000 numbers in 0.14 s with 2 workers
//     Largest prime: 999999999999989
//
// Rank 0 mostly waits for results (off the CPU), so give the job one rank more than the cores you want
// computing: on 2 cores, -np 3. With --list, rank 0 also prints `<number> prime|composite` per number.
import { COMM_WORLD as comm, Wtime } from 'tsmpi';
import { task, withExecutor } from 'tsmpi/futures';
import { isPrime, numbersToTest } from './primality.js';

const args = process.argv.slice(2);
const list = args.includes('--list');
const count = Number(args.find((a) => a !== '--list') ?? 20000);
if (!Number.isInteger(count) || count < 0) throw new Error(`count must be a non-negative integer, got ${count}`);

// Every rank registers the task at top level; rank 0 ships the numbers, the workers run isPrime.
const checkPrime = task('isPrime', isPrime);

const result = await withExecutor(comm, async (executor) => {
  const numbers = numbersToTest(count);
  const start = Wtime();
  // The progress line goes to stderr: redrawn in place on a terminal, else a line per quarter.
  const tty = process.stderr.isTTY;
  let shown = -1;
  const verdicts = await executor.mapAll(checkPrime, numbers, {
    // chunksize 'auto': the numbers go in 4 chunks per worker.
    onProgress: ({ done, total }) => {
      const percent = Math.floor((100 * done) / (total ?? done));
      if (percent < shown + (tty ? 1 : 25) && done !== total) return;
      shown = percent;
      process.stderr.write(`${tty ? '\r' : ''}checked ${done} of ${total} numbers (${percent}%)${tty ? '' : '\n'}`);
    },
  });
  if (tty) process.stderr.write('\n');
  return { numbers, verdicts, elapsed: Wtime() - start, workers: executor.numWorkers };
});

if (result) {
  const { numbers, verdicts, elapsed, workers } = result;
  const found = verdicts.filter(Boolean).length;
  console.log(`Found ${found} primes among ${numbers.length} numbers in ${elapsed.toFixed(2)} s with ${workers} worker${workers === 1 ? '' : 's'}`);
  const largest = numbers.filter((_, i) => verdicts[i]).reduce((a, b) => Math.max(a, b), -Infinity);
  console.log(`Largest prime: ${found > 0 ? largest : 'none'}`);
  if (list) console.log(numbers.map((n, i) => `${n} ${verdicts[i] ? 'prime' : 'composite'}`).join('\n'));
}
