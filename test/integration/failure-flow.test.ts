// Issue 6, flow control (the long one): 8 GiB in eager-sized (64 KiB) messages, sent with awaited `Send`,
// to a rank that posts its receives late. The sender must be held back (after about one credit window),
// the receiver's RSS must stay under 512 MiB above its baseline, and every message must arrive, in order,
// intact. About 15-20 s on a 2-core machine. Nothing of the job may remain afterwards.
// Also, smaller and quicker: messages of each protocol's size sent with awaited `Send` from one reused
// buffer by a sender that ends right after its last Send — every message must arrive intact and in order.
import { afterEach, describe, expect, it } from 'vitest';
import { assertNothingLeft, disposeAllJobs, fixture, runJob } from '../helpers/job.js';

const FLOW = fixture('failure/flow-bytes.ts');
const MIB = 2 ** 20;
const BOUND = 512 * MIB;
const GIB = 8;
const MSG = 64 * 1024;

afterEach(async () => {
  await disposeAllJobs();
});

it(`${GIB} GiB in ${MSG / 1024} KiB messages to a late receiver: sender held back, receiver RSS bounded, all delivered in order`, async () => {
  const result = await runJob({ np: 2, script: FLOW, args: [String(GIB), String(MSG)], timeoutMs: 240_000 });
  const text = result.job.describe(result);
  expect(result.code, text).toBe(0);
  const count = (GIB * 2 ** 30) / MSG;

  const sent = /^SENT count=(\d+) heldafter=(-?\d+) ms=(\d+)$/m.exec(result.stdout);
  expect(sent, text).not.toBeNull();
  expect(Number(sent![1]), text).toBe(count);
  // Held back: some Send had to wait for the receiver, long before everything was sent.
  const heldAfter = Number(sent![2]);
  expect(heldAfter, `the sender was never held back\n${text}`).toBeGreaterThanOrEqual(0);
  expect(heldAfter * MSG, text).toBeLessThan(BOUND);

  const delivered = /^DELIVERED count=(\d+) inorder=(\w+) heldafter=(-?\d+) ms=(\d+)$/m.exec(result.stdout);
  expect(delivered, text).not.toBeNull();
  expect(Number(delivered![1]), text).toBe(count);
  expect(delivered![2], `messages arrived out of order or corrupted\n${text}`).toBe('true');

  const rss = /^RSS baseline=(\d+) atheld=(\d+) peak=(\d+)$/m.exec(result.stdout);
  expect(rss, text).not.toBeNull();
  const [baseline, atHeld, peak] = [Number(rss![1]), Number(rss![2]), Number(rss![3])];
  const report = `receiver RSS: baseline ${(baseline / MIB).toFixed(0)} MiB, when the sender was held ${(atHeld / MIB).toFixed(0)} MiB, peak ${(peak / MIB).toFixed(0)} MiB`;
  console.log(`${report}; sender held after ${heldAfter} messages; send phase ${sent![3]} ms, receive phase ${delivered![4]} ms, job ${result.ms} ms`);
  expect(atHeld - baseline, report).toBeLessThan(BOUND);
  expect(peak - baseline, report).toBeLessThan(BOUND);
  await assertNothingLeft(result);
}, 300_000);

describe('a sender that ends right after its last Send (one reused buffer): every message arrives, intact, in order', () => {
  const SENDEXIT = fixture('failure/sendexit.ts');
  const cases: { bytes: number; count: number; what: string; env?: Record<string, string> }[] = [
    { bytes: 1024, count: 20_000, what: '1 KiB (eager, copied)' },
    { bytes: 20_000, count: 2000, what: '20 000 B (eager, written in place)' },
    { bytes: 65_536, count: 2000, what: '64 KiB (eager)' },
    { bytes: 1 << 20, count: 200, what: '1 MiB (eager under the default limit)' },
    { bytes: 1 << 20, count: 200, what: '1 MiB by rendezvous (TSMPI_EAGER_LIMIT=65536)', env: { TSMPI_EAGER_LIMIT: '65536' } },
  ];
  for (const c of cases) {
    for (const batch of [1, 32]) {
      it(`${c.count} × ${c.what}, receiver posting ${batch === 1 ? 'one Recv at a time' : `${batch} Irecv at a time`}`, async () => {
        const result = await runJob({ np: 2, script: SENDEXIT, args: [String(c.bytes), String(c.count), '0', String(batch)], env: c.env, timeoutMs: 60_000 });
        const text = result.job.describe(result);
        expect(result.stdout, text).toMatch(new RegExp(`^SENT count=${c.count}$`, 'm'));
        expect(result.stdout, text).toMatch(new RegExp(`^RECEIVED count=${c.count} intact=true$`, 'm'));
        expect(result.code, text).toBe(0);
        await assertNothingLeft(result);
      });
    }
  }
});
