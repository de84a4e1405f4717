// The prime check of examples/primes.ts and examples/primes-pool.ts: a deterministic Miller–Rabin test,
// and the list of numbers both examples check (the same on every run and every rank count).

// ---------------------------------------------------------------------------------------------
// Primality: trial division by small primes, then Miller–Rabin with the first twelve prime bases,
// which is exact for every n < 3.3·10^24 (Sorenson & Webster, 2015) — far beyond 2^53.

const SMALL_PRIMES = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97];
const BASES = SMALL_PRIMES.slice(0, 12).map(BigInt);

function powMod(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n;
  base %= modulus;
  while (exponent > 0n) {
    if (exponent & 1n) result = (result * base) % modulus;
    base = (base * base) % modulus;
    exponent >>= 1n;
  }
  return result;
}

export function isPrime(value: number): boolean {
  if (!Number.isSafeInteger(value) || value < 2) return false;
  for (const p of SMALL_PRIMES) {
    if (value === p) return true;
    if (value % p === 0) return false;
  }
  const n = BigInt(value), nMinus1 = n - 1n;
  let d = nMinus1, s = 0;
  while ((d & 1n) === 0n) { d >>= 1n; s++; }
  witness: for (const a of BASES) {
    let x = powMod(a, d, n);
    if (x === 1n || x === nMinus1) continue;
    for (let i = 1; i < s; i++) {
      x = (x * x) % n;
      if (x === nMinus1) continue witness;
    }
    return false; // a proves n composite
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// The list

export function numbersToTest(total: number): number[] {
  const known = [
    999_999_999_989, 1_000_000_000_039, 99_999_999_999_973, 100_000_000_000_031, 999_999_999_999_989,
    // composites: a square of a prime, a product of two primes near 10^6, 10^12 + 1 = 73·137·99990001
    1_000_003 * 1_000_003, 999_983 * 1_000_037, 1_000_000_000_001,
  ];
  // Carmichael numbers (6k+1)(12k+1)(18k+1) with all three factors prime: Fermat's test calls them prime.
  for (let k = 920; known.length < 16 && k < 20_000; k++) {
    if (isPrime(6 * k + 1) && isPrime(12 * k + 1) && isPrime(18 * k + 1)) known.push((6 * k + 1) * (12 * k + 1) * (18 * k + 1));
  }
  const numbers = known.slice(0, total);
  // xorshift32 from a fixed seed: the same numbers on every run.
  let state = 0x9e3779b9;
  const random = () => {
    state ^= state << 13; state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5; state >>>= 0;
    return state / 2 ** 32;
  };
  while (numbers.length < total) {
    const n = Math.floor(10 ** (12 + 3 * random()));
    numbers.push(n % 2 === 0 ? n + 1 : n); // odd: even numbers would make the test too easy
  }
  return numbers;
}
