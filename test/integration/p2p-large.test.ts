// Large typed messages in real jobs (issue 2: "a 256 MiB typed message and one just over 2^31 bytes"):
// rendezvous straight into the posted buffer, over Unix sockets and forced TCP, to oneself, and beyond
// 2^31 bytes (offsets and lengths that no longer fit an int32). The ranks check status.count and sampled
// elements themselves (test/fixtures/p2p/large.ts) and print one line each.
//
// Slow (seconds to tens of seconds, and about 2 × 2 GiB of memory for the largest), hence a file of its
// own with generous limits; still part of the suite that CI runs.
import { afterAll, describe, it, expect } from 'vitest';
import { checkThenNothingLeft, disposeAllJobs, fixture, linesOf, runJob } from '../helpers/job.js';

const LARGE = fixture('p2p/large.ts');
const MiB = 2 ** 20;

afterAll(disposeAllJobs);

async function large(bytes: number, options: { self?: boolean; tcp?: boolean; timeoutMs: number }): Promise<void> {
  const run = await runJob({
    np: 2, script: LARGE, args: [String(bytes), ...(options.self ? ['self'] : [])],
    env: options.tcp ? { TSMPI_TRANSPORT: 'tcp' } : {}, timeoutMs: options.timeoutMs,
  });
  await checkThenNothingLeft(run, () => {
    const why = run.job.describe();
    expect(run.code, why).toBe(0);
    expect(linesOf(run.stdout).sort(), why).toEqual([`OK large bytes=${bytes} rank=0`, `OK large bytes=${bytes} rank=1`]);
    expect(run.stderr, why).toBe('');
  });
}

describe('large typed messages', () => {
  it('256 MiB between two ranks, and to oneself', () => large(256 * MiB, { self: true, timeoutMs: 120_000 }), 150_000);

  it('256 MiB over forced TCP', () => large(256 * MiB, { tcp: true, timeoutMs: 120_000 }), 150_000);

  it('just over 2^31 bytes (2 GiB + 24 B)', () => large(2 ** 31 + 24, { timeoutMs: 240_000 }), 270_000);
});
