// The examples a user runs first (issue 3): each job's output is checked against a computation made here,
// independently of tsmpi: the integral in closed form, primality by node:crypto's checkPrimeSync (OpenSSL),
// word counts by a plain loop over the file.
import { checkPrimeSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { assertNothingLeft, disposeAllJobs, linesOf, REPO, runJob, type JobOptions } from '../helpers/job.js';

const example = (name: string) => join(REPO, 'examples', name);

async function run(options: JobOptions) {
  const result = await runJob({ timeoutMs: 60_000, ...options });
  await assertNothingLeft(result);
  expect(result.code, `exit ${result.code}\n--- stdout ---\n${result.stdout}--- stderr ---\n${result.stderr}`).toBe(0);
  return result;
}

const scratch = mkdtempSync(join(tmpdir(), 'tsmpi-examples-test-'));
afterEach(disposeAllJobs);
afterAll(async () => {
  await disposeAllJobs();
  rmSync(scratch, { recursive: true, force: true });
});

describe('auc: the area under 0.7x³ − 2x² + 4 on [0, 3]', () => {
  // ∫₀³ 0.7x³ − 2x² + 4 dx = 0.7·3⁴/4 − 2·3³/3 + 4·3 = 14.175 − 18 + 12 = 8.175; the rectangle rule with
  // n = 3·10⁶ is within (f(3) − f(0))·dx/2 ≈ 5·10⁻⁷ of it.
  const EXACT = 0.7 * 3 ** 4 / 4 - 2 * 3 ** 3 / 3 + 4 * 3;
  for (const script of ['auc.ts', 'auc-typed.ts']) {
    for (const np of [1, 3, 4]) {
      it(`${script} on ${np} rank(s)`, async () => {
        const r = await run({ np, script: example(script), args: ['3000000'] });
        const lines = linesOf(r.stdout);
        expect(lines).toHaveLength(1);
        const m = /^The area is (8\.17\d*)$/.exec(lines[0]!);
        expect(m, lines[0]).not.toBeNull();
        expect(Math.abs(Number(m![1]) - EXACT)).toBeLessThan(1e-4);
      });
    }
  }
});

describe('primes: scatter, test, gather', () => {
  /** The `Found …` line, the `Largest prime` line, and with --list one `<n> prime|composite` line per number. */
  function parse(stdout: string) {
    const lines = linesOf(stdout);
    const found = /^Found (\d+) primes among (\d+) numbers in (\d+\.\d\d) s on (\d+) ranks$/.exec(lines[0] ?? '');
    expect(found, `first line: ${lines[0]}`).not.toBeNull();
    const largest = /^Largest prime: (\d+)$/.exec(lines[1] ?? '');
    expect(largest, `second line: ${lines[1]}`).not.toBeNull();
    const list = lines.slice(2).map((l) => {
      const m = /^(\d+) (prime|composite)$/.exec(l);
      expect(m, l).not.toBeNull();
      return { n: BigInt(m![1]!), prime: m![2] === 'prime' };
    });
    return { count: Number(found![1]), total: Number(found![2]), ranks: Number(found![4]), largest: BigInt(largest![1]!), list };
  }

  it('every verdict agrees with OpenSSL\'s primality test, on 4 ranks', async () => {
    const r = await run({ np: 4, script: example('primes.ts'), args: ['--list'] });
    const { count, total, ranks, largest, list } = parse(r.stdout);
    expect(ranks).toBe(4);
    expect(list).toHaveLength(total);
    expect(total).toBe(20_000);
    const wrong = list.filter(({ n, prime }) => checkPrimeSync(n, { checks: 32 }) !== prime);
    expect(wrong.slice(0, 10), `${wrong.length} wrong verdicts`).toEqual([]);
    const primes = list.filter((x) => x.prime).map((x) => x.n);
    expect(count).toBe(primes.length);
    expect(count).toBeGreaterThan(500); // the list mixes primes and composites
    expect(count).toBeLessThan(total / 2);
    expect(largest).toBe(primes.reduce((a, b) => (b > a ? b : a)));
    // Large numbers (around 10¹² … 10¹⁵), among them known primes (the largest below 10¹² and 10¹⁵) and
    // composites that fool Fermat's test.
    expect(list.every(({ n }) => n > 10n ** 11n && n < 10n ** 15n)).toBe(true);
    expect(primes).toEqual(expect.arrayContaining([999_999_999_989n, 999_999_999_999_989n]));
    expect(list.find((x) => x.n === 1_000_000_000_001n)?.prime).toBe(false);
  });

  it('the same list and verdicts on any rank count (fewer numbers than ranks too)', async () => {
    const one = parse((await run({ np: 1, script: example('primes.ts'), args: ['3000', '--list'] })).stdout);
    const five = parse((await run({ np: 5, script: example('primes.ts'), args: ['3000', '--list'] })).stdout);
    expect(five.list).toEqual(one.list);
    expect(five.count).toBe(one.count);
    expect(five.ranks).toBe(5);
    const few = parse((await run({ np: 5, script: example('primes.ts'), args: ['3', '--list'] })).stdout);
    expect(few.list).toEqual(one.list.slice(0, 3));
    expect(few.count).toBe(3); // the first numbers of the list are known primes
  });
});

describe('wordcount: scatter lines, count, reduce with a user op', () => {
  /** The expected output, computed here: words are runs of a–z with inner apostrophes, case folded. */
  function expectedOutput(text: string, np: number, top = 10): string[] {
    const lines = text.split(/\r?\n/);
    if (lines.at(-1) === '') lines.pop();
    const counts = new Map<string, number>();
    let words = 0;
    for (const line of lines) {
      for (const w of line.toLowerCase().match(/[a-z]+(?:'[a-z]+)*/g) ?? []) {
        counts.set(w, (counts.get(w) ?? 0) + 1);
        words++;
      }
    }
    const ranked = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, top);
    return [
      `Counted ${words} words (${counts.size} distinct) in ${lines.length} lines on ${np} ranks`,
      ...ranked.map(([w, n], i) => `${i + 1}. ${w} ${n}`),
    ];
  }

  /** The job's lines with the column padding collapsed. */
  const normalized = (stdout: string) => linesOf(stdout).map((l) => l.trim().replace(/ +/g, ' '));

  it('the default text, on 4 ranks: top 10 words', async () => {
    const text = readFileSync(join(REPO, 'examples', 'data', 'public-domain.txt'), 'utf8');
    expect(text.length).toBeLessThan(100_000);
    expect(linesOf(text).length).toBeGreaterThan(200);
    const r = await run({ np: 4, script: example('wordcount.ts') });
    const expected = expectedOutput(text, 4);
    expect(normalized(r.stdout)).toEqual(expected);
    expect(expected[1]).toBe('1. the 232'); // what the header comment of the example shows
  });

  it('ties broken alphabetically, fewer lines than ranks, a file given as argument, any rank count', async () => {
    const file = join(scratch, 'ties.txt');
    const text = "Zebra apple\nmango APPLE zebra -- Mango's mango's\nkiwi\n";
    writeFileSync(file, text);
    for (const np of [1, 5]) {
      const r = await run({ np, script: example('wordcount.ts'), args: [file, '4'] });
      expect(normalized(r.stdout)).toEqual(expectedOutput(text, np, 4));
    }
    expect(expectedOutput(text, 5, 4).slice(1)).toEqual(['1. apple 2', '2. mango\'s 2', '3. zebra 2', '4. kiwi 1']);
  });
});

describe('pingpong: half round-trip latency and bandwidth', () => {
  it('prints a header and one row per size, the bandwidth being the size over the half round trip', async () => {
    const r = await run({ np: 2, script: example('pingpong.ts'), args: ['0.05'] });
    const lines = linesOf(r.stdout);
    expect(lines[0]).toMatch(/^Send\/Recv ping-pong of Uint8Array between 2 ranks \(0\.25 s warm-up, ~0\.05 s timed per size\)$/);
    expect(lines[1]!.trim().split(/\s{2,}/)).toEqual(['size', 'half round trip', 'bandwidth']);
    const rows = lines.slice(2).map((line) => {
      const m = /^ *(\d+) (B|KiB|MiB) +(\d+\.\d) µs +(\d+(?:\.\d+)?) (MB|GB)\/s$/.exec(line);
      expect(m, line).not.toBeNull();
      const bytes = Number(m![1]) * { B: 1, KiB: 1024, MiB: 1024 ** 2 }[m![2] as 'B' | 'KiB' | 'MiB'];
      return { bytes, microseconds: Number(m![3]), bytesPerSecond: Number(m![4]) * (m![5] === 'GB' ? 1e9 : 1e6) };
    });
    expect(rows.map((row) => row.bytes)).toEqual([8, 1024, 1024 ** 2, 16 * 1024 ** 2]);
    for (const row of rows) {
      expect(row.microseconds).toBeGreaterThan(0);
      // Both columns come from one measurement (they differ by the printed rounding only).
      expect(row.bytesPerSecond / (row.bytes / (row.microseconds * 1e-6))).toBeCloseTo(1, 1);
    }
  });

  it('on one rank it says that it needs two, and exits 2', async () => {
    const r = await runJob({ np: 1, script: example('pingpong.ts'), timeoutMs: 60_000 });
    await assertNothingLeft(r);
    expect(r.code).toBe(2);
    expect(linesOf(r.stderr)[0]).toBe('pingpong needs 2 ranks: tsmpirun -np 2 examples/pingpong.ts');
  });
});
