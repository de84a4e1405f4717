// Collectives in real multi-process jobs (issue 3): every collective of API.md, both families, at 1, 2, 3,
// 4, 5 and 8 ranks, every root, under the selection table's own choice and under every algorithm forced
// through TSMPI_COLL_<NAME>; the message-count bound of the small-message tree/butterfly algorithms at 16 and
// 32 ranks; floating-point allreduce bitwise the same run after run; a buffer length that does not fit on
// one rank failing the call rather than hanging the job (test/fixtures/coll/mismatch.ts).
//
// The checks run inside the ranks (test/fixtures/coll/suite.ts computes every expected value itself and
// throws at the first difference); here each job must exit 0 with one `OK <group> rank=<R>` line per rank
// and group, and leave nothing behind. One job runs every group, so a configuration costs one launch per
// rank count.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { COLL_ALGORITHMS } from '../../runtime/coll/select.js';
import { assertNothingLeft, disposeAllJobs, fixture, linesOf, runJob, type JobOptions } from '../helpers/job.js';

const SUITE = fixture('coll/suite.ts');
const COUNTS = fixture('coll/counts.ts');
const MISMATCH = fixture('coll/mismatch.ts');
const RANK_COUNTS = [1, 2, 3, 4, 5, 8];
const GROUPS = ['objects', 'typed', 'ops', 'vector', 'float', 'errors', 'isolation'];
/**
 * Every op on every element kind (`ops`) runs under the selection table up to 5 ranks; at 8 ranks and
 * under forced algorithms, whose op kernels are the same, four element kinds (one per kernel family:
 * 8-bit wrap-around, 32-bit imul, float, bigint) keep the job short (`ops-lite`).
 */
const LITE_GROUPS = GROUPS.map((g) => (g === 'ops' ? 'ops-lite' : g));

type Env = Record<string, string>;
/** Messages over 64 KiB by rendezvous: the default eager limit is larger than the tests' long messages. */
const RENDEZVOUS_FROM_64K: Env = { TSMPI_EAGER_LIMIT: '65536' };

/**
 * Configuration k forces, for every collective, its k-th algorithm (cycling through shorter lists), so
 * that max(list lengths) configurations run every algorithm of every collective at least once. They also
 * lower the eager limit to 64 KiB (RENDEZVOUS_FROM_64K), so that the suite's long messages (80 KB views,
 * 100 000-character strings) go by rendezvous there, and by eager sends under the default limit.
 */
function forcedConfigurations(): { name: string; env: Env }[] {
  const most = Math.max(...Object.values(COLL_ALGORITHMS).map((a) => a.length));
  return Array.from({ length: most }, (_, k) => {
    const env: Env = {};
    const names: string[] = [];
    for (const [coll, algorithms] of Object.entries(COLL_ALGORITHMS)) {
      const algorithm = algorithms[k % algorithms.length]!;
      env[`TSMPI_COLL_${coll.toUpperCase()}`] = algorithm;
      if (algorithms.length > 1) names.push(`${coll}=${algorithm}`);
    }
    return { name: `${names.join(' ')} TSMPI_EAGER_LIMIT=65536`, env: { ...env, ...RENDEZVOUS_FROM_64K } };
  });
}

interface Configuration {
  name: string;
  env: Env;
  /** Rank counts it runs at. */
  rankCounts: number[];
  groups: (np: number) => string[];
  /** Rank counts at which a second run must reproduce the floating-point results bitwise. */
  rerun: number[];
}

// The forced algorithms run once, with ranks as threads (tsmpirun's default, and the cheaper jobs): an
// algorithm is a sequence of point-to-point calls, the same on every channel; with ranks as processes
// the selection table's runs cover the sockets.
const RANKS_AS_THREADS = process.env.TSMPI_RANKS === 'threads';
const CONFIGURATIONS: Configuration[] = [
  { name: 'selection table (auto)', env: {}, rankCounts: RANK_COUNTS, groups: (np) => (np <= 5 ? GROUPS : LITE_GROUPS), rerun: [5, 8] },
  // A forced algorithm at a power of two, at an odd count on either side of one, and past 4.
  ...(!RANKS_AS_THREADS ? [] : forcedConfigurations().map((c) => ({ ...c, rankCounts: [2, 4, 5, 8], groups: () => LITE_GROUPS, rerun: [5] }))),
];

async function run(options: JobOptions) {
  const result = await runJob({ timeoutMs: 90_000, ...options });
  await assertNothingLeft(result);
  return result;
}

function describeJob(r: { code: number | null; signal: string | null; stdout: string; stderr: string; ms: number }): string {
  return `exit ${r.code} signal ${r.signal} after ${r.ms} ms\n--- stdout ---\n${r.stdout}--- stderr ---\n${r.stderr}`;
}

/** Every rank printed `OK <group> rank=<R>` exactly once for each group. */
function expectEveryGroupPassed(stdout: string, np: number, groups: string[]): void {
  const ok = linesOf(stdout).filter((l) => l.startsWith('OK '));
  for (const group of groups) {
    const ranks = ok.filter((l) => l.startsWith(`OK ${group} `)).map((l) => Number(/rank=(\d+)/.exec(l)![1])).sort((a, b) => a - b);
    expect(ranks, `group ${group}`).toEqual(Array.from({ length: np }, (_, r) => r));
  }
}

function digestOf(stdout: string): string {
  const lines = linesOf(stdout).filter((l) => l.startsWith('DIGEST '));
  expect(lines).toHaveLength(1);
  return lines[0]!.slice('DIGEST '.length);
}

afterEach(disposeAllJobs);
afterAll(disposeAllJobs);

/** DIGEST lines of the suite runs, by configuration and rank count, for the run-to-run comparison. */
const digests = new Map<string, string>();

for (const config of CONFIGURATIONS) {
  describe(`every collective, ${config.name}`, () => {
    for (const np of config.rankCounts) {
      it(`np=${np}`, { timeout: 120_000 }, async () => {
        const groups = config.groups(np);
        const r = await run({ np, script: SUITE, args: groups, env: config.env });
        expect(r.code, describeJob(r)).toBe(0);
        expectEveryGroupPassed(r.stdout, np, groups);
        digests.set(`${config.name} np=${np}`, digestOf(r.stdout));
      });
    }
  });
}

describe('floating-point allreduce is bitwise the same run after run', () => {
  // The suite's float group already compares every rank's result, call after call with jittered arrival
  // order; here a second job must give the digest of the first (same inputs, same algorithm).
  for (const config of CONFIGURATIONS) {
    for (const np of config.rerun) {
      it(`${config.name}, np=${np}`, { timeout: 120_000 }, async () => {
        const first = digests.get(`${config.name} np=${np}`);
        const r = await run({ np, script: SUITE, args: ['float'], env: config.env });
        expect(r.code, describeJob(r)).toBe(0);
        expectEveryGroupPassed(r.stdout, np, ['float']);
        if (first === undefined) {
          // Run on its own (e.g. `vitest -t float`): compare two fresh runs.
          const again = await run({ np, script: SUITE, args: ['float'], env: config.env });
          expect(again.code, describeJob(again)).toBe(0);
          expect(digestOf(again.stdout)).toBe(digestOf(r.stdout));
        } else {
          expect(digestOf(r.stdout)).toBe(first);
        }
      });
    }
  }
});

describe('messages per rank of small-message collectives', () => {
  function parseCounts(stdout: string, np: number): { perRank: Record<string, number>[]; totals: Record<string, number> } {
    const perRank: Record<string, number>[] = [];
    for (const line of linesOf(stdout)) {
      const m = /^COUNTS rank=(\d+) (\{.*\})$/.exec(line);
      if (m) perRank[Number(m[1])] = JSON.parse(m[2]!) as Record<string, number>;
    }
    expect(perRank.filter(Boolean)).toHaveLength(np);
    const totalsLine = linesOf(stdout).find((l) => l.startsWith('TOTALS '));
    expect(totalsLine).toBeDefined();
    return { perRank, totals: JSON.parse(totalsLine!.slice('TOTALS '.length)) as Record<string, number> };
  }

  for (const np of [16, 32]) {
    it(`np=${np}: at most 2·⌈lg p⌉ per rank for bcast, reduce, allreduce and barrier`, async () => {
      const r = await run({ np, script: COUNTS, timeoutMs: 120_000 });
      expect(r.code, describeJob(r)).toBe(0);
      const { perRank, totals } = parseCounts(r.stdout, np);
      const lg = Math.ceil(Math.log2(np));
      const bound = 2 * lg;
      const names = Object.keys(perRank[0]!);
      expect(names).toEqual(expect.arrayContaining(['barrier', 'Barrier', 'bcast', 'Bcast', 'reduce', 'Reduce', 'allreduce', 'Allreduce']));
      for (const name of names) {
        const worst = Math.max(...perRank.map((c) => c[name]!));
        expect(worst, `${name}: most messages one rank sent in one call (bound 2·⌈lg ${np}⌉ = ${bound})`).toBeLessThanOrEqual(bound);
        expect(worst, `${name} sent nothing`).toBeGreaterThan(0);
      }
      // What the algorithms' headers promise, summed over the ranks: a binomial tree has p − 1 edges (plus
      // rank 0's hand-over to the root for object reductions, which always keep rank order), and the
      // completion of a rooted collective (completion_binomial.ts) one empty notice per edge; the
      // dissemination barrier and the power-of-two butterfly send ⌈lg p⌉ per rank.
      expect(totals.bcast).toBe(2 * (np - 1));
      expect(totals.Bcast).toBe(2 * (np - 1));
      expect(totals.Reduce).toBe(2 * (np - 1));
      expect(totals.reduce).toBeLessThanOrEqual(np + np - 1);
      expect(totals.barrier).toBe(np * lg);
      expect(totals.Allreduce).toBe(np * lg);
    }, 150_000);
  }

  it('the TSMPI_COLL_* override is honoured: forced ring allreduce sends 2(p−1) per rank', async () => {
    const np = 8;
    const r = await run({
      np, script: COUNTS,
      env: { TSMPI_COLL_ALLREDUCE: 'ring', TSMPI_COLL_BCAST: 'scatter_allgather' },
    });
    expect(r.code, describeJob(r)).toBe(0);
    const { perRank } = parseCounts(r.stdout, np);
    for (const counts of perRank) {
      expect(counts.Allreduce).toBe(2 * (np - 1));
      // The ring allgather of scatter + allgather bcast: p − 1 messages per rank, more than the tree's lg p.
      expect(counts.Bcast).toBeGreaterThanOrEqual(np - 1);
      // Objects cannot be cut into segments: the object family keeps its tree and butterfly.
      expect(counts.allreduce).toBeLessThanOrEqual(Math.ceil(Math.log2(np)) + 1);
      expect(counts.bcast).toBeLessThanOrEqual(Math.ceil(Math.log2(np)));
    }
  });

  it('an unknown algorithm name is refused by tsmpirun before any rank starts, naming the valid ones', async () => {
    const r = await run({ np: 2, script: SUITE, args: ['objects'], env: { TSMPI_COLL_ALLREDUCE: 'bogus' } });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('tsmpirun: TSMPI_COLL_ALLREDUCE=bogus is not an algorithm of allreduce; valid: recursive_doubling, rabenseifner, ring, auto\n');
  });
});

describe('a buffer length that does not fit on one rank fails the call on every rank and never hangs the job', () => {
  /**
   * Runs mismatch.ts with `cases`: every rank must report an outcome and then pass the barrier after it;
   * every rank must have failed the call with TSMPI_ERR_COUNT, TSMPI_ERR_TRUNCATE or TSMPI_ERR_TYPE (the
   * ranks that see the mismatch first may report either — a rank whose short buffer chose another
   * algorithm may receive a message of another kind than it expects; the others get the first one's
   * error), so a program that catches the error stays in step on every rank.
   */
  async function expectFailsWithoutHanging(np: number, cases: string[], odd: (name: string) => number, env: Env = {}): Promise<void> {
    // The launcher's deadlock detection ends a hung job within seconds (exit 125); --timeout is a backstop.
    const r = await run({ np, script: MISMATCH, args: cases, env, launcherArgs: ['--timeout', '30'] });
    expect(r.code, describeJob(r)).toBe(0);
    const lines = linesOf(r.stdout);
    for (const name of cases) {
      const outcomes: (string | undefined)[] = [];
      for (let rank = 0; rank < np; rank++) {
        const outcome = lines.find((l) => l.startsWith(`OUTCOME ${name} rank=${rank} `))?.split(' ').at(-1);
        outcomes.push(outcome);
        expect(['TSMPI_ERR_COUNT', 'TSMPI_ERR_TRUNCATE', 'TSMPI_ERR_TYPE'], `${name}, rank ${rank}: outcome ${outcome}\n${describeJob(r)}`).toContain(outcome);
        expect(lines, `${name}, rank ${rank} did not pass the barrier after it`).toContain(`ALIVE ${name} rank=${rank}`);
      }
      expect(outcomes.every((o) => o !== 'ok'), `${name} (rank ${odd(name)} mismatched): some rank returned normally\n${describeJob(r)}`).toBe(true);
    }
  }
  const last = (np: number) => () => np - 1;

  it('Bcast on 8 ranks, the last rank\'s buffer short (binomial there, scatter + allgather elsewhere)', async () => {
    await expectFailsWithoutHanging(8, ['Bcast'], last(8));
  });

  it('Reduce on 4 ranks, the last rank\'s buffers short (binomial there, Rabenseifner elsewhere)', async () => {
    await expectFailsWithoutHanging(4, ['Reduce'], last(4));
  });

  it('Reduce_scatter_block on 4 ranks, the last rank\'s blocks short (allreduce-based there, pairwise elsewhere)', async () => {
    await expectFailsWithoutHanging(4, ['Reduce_scatter_block'], last(4));
  });

  it('Reduce_scatter_block on 8 ranks, pairwise forced everywhere: rendezvous sends to a rank that gave up', async () => {
    await expectFailsWithoutHanging(8, ['Reduce_scatter_block'], last(8), { TSMPI_COLL_REDUCE_SCATTER_BLOCK: 'pairwise', ...RENDEZVOUS_FROM_64K });
  });

  it('Gather on 2 ranks, the root\'s recvbuf too small, 160 KB blocks (rendezvous sends to the root)', async () => {
    await expectFailsWithoutHanging(2, ['Gather (root recvbuf too small)'], () => 0, RENDEZVOUS_FROM_64K);
  });

  it('Gather on 3 ranks, the root\'s recvbuf too small, the others calling it after root has failed (rendezvous sends to a failed call)', async () => {
    await expectFailsWithoutHanging(3, ['Gather (root recvbuf too small, the others late)'], () => 0, RENDEZVOUS_FROM_64K);
  });

  it('Bcast with the same algorithm everywhere, Allreduce, Alltoall, Gather with short blocks, on 8 ranks', async () => {
    const cases = ['Bcast (same algorithm)', 'Allreduce', 'Alltoall', 'Gather (root recvbuf too small, short blocks)'];
    await expectFailsWithoutHanging(8, cases, (name) => (name.startsWith('Gather') ? 0 : 7));
  });
});
