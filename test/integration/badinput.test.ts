// Issue 6, "Bad input": every API call given invalid arguments — a rank out of range or not an integer, a
// negative or oversized tag, a root out of range, a non-typed-array where a typed array is required,
// mismatched element types, a function or symbol to serialize, an op on the wrong type, a freed
// communicator — fails with the documented TsmpiError code, the error can be caught, and the job continues
// and ends by itself with status 0. The table lives in test/fixtures/failure/badinput.ts (one job, every
// case on every rank, one output line per case and rank); after the table, checks that what failed calls
// left behind does not disturb later communication.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertNothingLeft, disposeAllJobs, fixture, linesOf, runJob, type Job, type JobResult } from '../helpers/job.js';

const NP = 3;
let result: JobResult & { job: Job };
let text: string;
let caseLines: string[];

beforeAll(async () => {
  result = await runJob({ np: NP, script: fixture('failure/badinput.ts'), timeoutMs: 120_000 });
  text = result.job.describe(result);
  caseLines = linesOf(result.stdout).filter((l) => l.startsWith('CASE '));
  console.log(`bad input: ${caseLines.length / NP} cases × ${NP} ranks in ${result.ms} ms`);
}, 150_000);

afterAll(async () => {
  await disposeAllJobs();
});

/** Case name → per-rank verdicts. */
function verdicts(prefix: 'CASE' | 'CHECK'): Map<string, string[]> {
  const byName = new Map<string, string[]>();
  for (const l of linesOf(result.stdout)) {
    const m = new RegExp(`^${prefix} (.*) rank=(\\d+) (ok|FAIL)(.*)$`).exec(l);
    if (!m) continue;
    const list = byName.get(m[1]!) ?? [];
    list.push(`rank ${m[2]}: ${m[3]}${m[4]}`);
    byName.set(m[1]!, list);
  }
  return byName;
}

describe('bad arguments to every API call', () => {
  it('the table ran to its end on every rank', () => {
    const ends = linesOf(result.stdout).filter((l) => l.startsWith('END '));
    expect(ends, text).toHaveLength(NP);
    const cases = Number(/cases=(\d+)/.exec(ends[0]!)![1]);
    expect(cases).toBeGreaterThan(300);
    expect(caseLines.length, 'one line per case and rank').toBe(cases * NP);
  });

  it('covers every call of the issue\'s list', () => {
    const calls = new Set(caseLines.map((l) => /^CASE (?:freed communicator: )?([A-Za-z_]+)/.exec(l)?.[1]));
    const required = [
      'send', 'recv', 'isend', 'irecv', 'ssend', 'issend', 'sendrecv', 'Send', 'Recv', 'Isend', 'Irecv', 'Ssend', 'Issend',
      'Sendrecv', 'Sendrecv_replace', 'probe', 'iprobe', 'bcast', 'Bcast', 'reduce', 'Reduce', 'scatter', 'Scatter', 'gather',
      'Gather', 'allgather', 'Allgather', 'alltoall', 'Alltoall', 'allreduce', 'Allreduce', 'scan', 'Scan', 'Exscan',
      'Reduce_scatter_block', 'Scatterv', 'Gatherv', 'barrier', 'Barrier', 'dup', 'split', 'createCart', 'free',
    ];
    expect(required.filter((c) => !calls.has(c))).toEqual([]);
    for (const kind of ['destination', 'source', 'tag', 'root', 'a plain array', 'into a Float32Array', 'a function', 'a symbol', 'BAND on Float64Array', 'freed communicator']) {
      expect(caseLines.some((l) => l.includes(kind)), `no case about ${kind}`).toBe(true);
    }
  });

  it('every case fails with the documented TsmpiError code, caught, on every rank that made the call', () => {
    const failing: string[] = [];
    for (const [name, list] of verdicts('CASE')) {
      const bad = list.filter((v) => !/: ok\b/.test(v));
      if (bad.length > 0) failing.push(`${name}\n    ${bad.join('\n    ')}`);
    }
    expect(failing, `${failing.length} failing case(s):\n${failing.join('\n')}`).toEqual([]);
  });

  it('no call hangs', () => {
    expect(linesOf(result.stdout).filter((l) => / FAIL HANG/.test(l))).toEqual([]);
  });

  it('what failed calls leave behind does not disturb later communication', () => {
    const failing: string[] = [];
    const checks = verdicts('CHECK');
    expect(checks.size).toBeGreaterThanOrEqual(4);
    for (const [name, list] of checks) {
      const bad = list.filter((v) => !/: ok$/.test(v));
      if (bad.length > 0) failing.push(`${name}\n    ${bad.join('\n    ')}`);
    }
    expect(failing, `${failing.length} failing check(s):\n${failing.join('\n')}`).toEqual([]);
  });

  it('communication still works afterwards and the job ends by itself with status 0, leaving nothing', async () => {
    const ends = linesOf(result.stdout).filter((l) => l.startsWith('END '));
    for (const e of ends) expect(e, text).toMatch(/healthy=true$/);
    expect(result.stderr, text).not.toMatch(/deadlock|uncaught|unhandled/i);
    expect(result.code, text).toBe(0);
    await assertNothingLeft(result);
  });
});
