// Prime validation: rank 0 holds a list of large numbers (about 10^12 … 10^15), scatters one chunk to each
// rank, every rank tests its numbers with a deterministic Miller–Rabin test (bigint arithmetic), and
// gather brings the verdicts back to rank 0 in the original order. Rank 0 prints how many are prime and
// how long it took (Wtime), then the largest prime found.
//
//   tsmpirun -np 4 examples/primes.ts [count=20000] [--list]
//   → Found 1347 primes among 20000 numbers in 0.08 s on 4 ranks
//     Largest prime: 999999999999989
//
// The list is the same for every run and every rank count: a few known primes near powers of ten, a few
// composites that fool weaker tests (Carmichael numbers, products of two large primes), and pseudo-random
// odd numbers spread logarithmically over [10^12, 10^15) from a fixed seed. With --list, rank 0 also
// prints one line per number, `<number> prime|composite`, for checking against another primality test
// (e.g. `openssl prime`, or node:crypto's checkPrimeSync).
import { COMM_WORLD as comm, Wtime } from 'tsmpi';
import { isPrime, numbersToTest } from './primality.js';

const args = process.argv.slice(2);
const list = args.includes('--list');
const count = Number(args.find((a) => a !== '--list') ?? 20000);
if (!Number.isInteger(count) || count < 0) throw new Error(`count must be a non-negative integer, got ${count}`);

/** `items` cut into `parts` contiguous chunks whose lengths differ by at most one. */
function chunks<T>(items: readonly T[], parts: number): T[][] {
  return Array.from({ length: parts }, (_, i) =>
    items.slice(Math.floor((i * items.length) / parts), Math.floor(((i + 1) * items.length) / parts)));
}

// ---------------------------------------------------------------------------------------------

await comm.barrier();
const start = Wtime();
const numbers = comm.rank === 0 ? numbersToTest(count) : [];
const mine = await comm.scatter(comm.rank === 0 ? chunks(numbers, comm.size) : undefined, 0);
const verdicts = mine.map(isPrime);
const gathered = await comm.gather(verdicts, 0);
const elapsed = Wtime() - start;

if (comm.rank === 0) {
  const prime = gathered!.flat();
  const found = prime.filter(Boolean).length;
  console.log(`Found ${found} primes among ${numbers.length} numbers in ${elapsed.toFixed(2)} s on ${comm.size} ranks`);
  const largest = numbers.filter((_, i) => prime[i]).reduce((a, b) => Math.max(a, b), -Infinity);
  console.log(`Largest prime: ${found > 0 ? largest : 'none'}`);
  if (list) console.log(numbers.map((n, i) => `${n} ${prime[i] ? 'prime' : 'composite'}`).join('\n'));
}
