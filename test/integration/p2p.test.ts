// Point-to-point messaging in real jobs (issue 2, "Tests"): every call of both families, Requests and
// Status, wildcards, tag-selective matching, ordering over 10 000 messages, zero-length and every typed
// array kind, objects with BigInt/Map/Set/Date/undefined/nested and 16 MiB typed arrays, PROC_NULL,
// self-sends, receives into larger buffers, truncation and type errors, synchronous sends that really wait,
// at 1, 2, 3, 5 and 8 ranks, over Unix sockets and over forced TCP.
//
// The checks run inside the ranks (test/fixtures/p2p/cases.ts, one case per name, described there); each
// rank prints one exact line per case that passed, and a failing check ends the job with the case, the
// rank and what differed. One job per rank count runs many cases (launching is the expensive part); each
// case is still its own test here. After every job: nothing of it is left (processes, job directory).
import { afterAll, beforeAll, describe, it } from 'vitest';
import { expectCase, expectCleanRun, runCases, type CaseRun } from '../helpers/cases.js';
import { checkThenNothingLeft, disposeAllJobs } from '../helpers/job.js';

afterAll(disposeAllJobs);

/** Cases whose line carries a detail, and what it must be. */
function detailOf(name: string, np: number, transport: 'unix' | 'tcp'): ((rank: number) => string) | undefined {
  // Ranks as threads (TSMPI_RANKS=threads) talk through shared memory unless TCP is forced.
  const threads = process.env.TSMPI_RANKS === 'threads' && transport === 'unix' && np > 1;
  switch (name) {
    case 'info': return () => `size=${np}`;
    case 'ring': return (r) => `right=${(r + 1) % np}`;
    case 'transport': return () => `kind=${threads ? 'shm' : transport}`;
    default: return undefined;
  }
}

interface Suite {
  title: string;
  np: number;
  transport: 'unix' | 'tcp';
  cases: string[];
  /** More of the ranks' environment. */
  env?: Record<string, string>;
}

const EVERY_CASE = [
  'info', 'self', 'proc-null', 'args', 'basic', 'sendrecv', 'nonblocking', 'tag-select', 'requests', 'probe',
  'wildcards', 'order', 'zero', 'kinds', 'objects', 'objects-16m', 'larger', 'errors', 'ssend', 'ring',
  'alltoall', 'rendezvous', 'shared-memory', 'transport',
];

const SUITES: Suite[] = [
  { title: 'one rank', np: 1, transport: 'unix', cases: ['info', 'self', 'proc-null', 'args', 'zero', 'ring', 'alltoall'] },
  { title: 'two ranks', np: 2, transport: 'unix', cases: EVERY_CASE },
  {
    title: 'three ranks (one sits out the pair cases)', np: 3, transport: 'unix',
    cases: ['info', 'basic', 'sendrecv', 'nonblocking', 'tag-select', 'requests', 'probe', 'wildcards', 'errors', 'ssend', 'ring', 'alltoall', 'transport'],
  },
  {
    // The eager limit of 64 KiB sends the cases' 512 KiB and 1 MiB messages by rendezvous; the default sends them eagerly.
    title: 'five ranks, messages over 64 KiB by rendezvous (TSMPI_EAGER_LIMIT=65536)', np: 5, transport: 'unix', env: { TSMPI_EAGER_LIMIT: '65536' },
    cases: ['info', 'self', 'basic', 'sendrecv', 'nonblocking', 'tag-select', 'requests', 'probe', 'wildcards', 'order', 'zero', 'kinds', 'objects', 'larger', 'errors', 'ssend', 'ring', 'alltoall', 'rendezvous'],
  },
  {
    title: 'eight ranks', np: 8, transport: 'unix',
    cases: ['info', 'basic', 'sendrecv', 'tag-select', 'requests', 'wildcards', 'ssend', 'ring', 'alltoall', 'rendezvous', 'transport'],
  },
  {
    title: 'three ranks over forced TCP (TSMPI_TRANSPORT=tcp)', np: 3, transport: 'tcp',
    cases: [
      'info', 'basic', 'sendrecv', 'nonblocking', 'tag-select', 'requests', 'probe', 'wildcards', 'order', 'zero', 'kinds',
      'objects', 'objects-16m', 'larger', 'errors', 'ssend', 'ring', 'alltoall', 'rendezvous', 'transport',
    ],
  },
];

for (const suite of SUITES) {
  describe(`${suite.title}: np=${suite.np}`, () => {
    let run: CaseRun;
    beforeAll(async () => {
      run = await runCases(suite.np, suite.cases, {
        env: { ...(suite.transport === 'tcp' ? { TSMPI_TRANSPORT: 'tcp' } : {}), ...suite.env },
        timeoutMs: 60_000,
      });
    }, 70_000);

    it('the job ends with status 0, prints only the case lines, and leaves nothing behind', async () => {
      await checkThenNothingLeft(run.job, () => expectCleanRun(run));
    });

    it.each(suite.cases)('%s', (name) => {
      expectCase(run, name, detailOf(name, suite.np, suite.transport));
    });
  });
}
