// Right under every interleaving that the calls of a program can produce:
//   - collectives started while a communicator constructor (dup, split, createCart, sub) of the same
//     communicator is still pending pair with the right calls on every rank, whatever each rank's delays
//     (test/fixtures/interleave/inflight.ts: every constructor × every collective family, random per-rank
//     pauses from a seed, two constructors in flight at once);
//   - ranks that call different collectives, or one with different roots, as the same call fail that call
//     on every rank with TSMPI_ERR_COLL_MISMATCH naming both calls and the communicator
//     (test/fixtures/coll/wrong-call.ts), and the communicator goes on working;
//   - collectives issued back to back, each before the earlier ones settle, with random per-rank pauses
//     and only some of them awaited along the way, all give the right result on every rank
//     (test/fixtures/interleave/pipelined.ts: barrier, allreduce, typed Allreduce, bcast).
import { afterAll, describe, expect, it } from 'vitest';
import { assertNothingLeft, disposeAllJobs, fixture, linesOf, runJob } from '../helpers/job.js';

afterAll(disposeAllJobs);

const INFLIGHT = fixture('interleave/inflight.ts');
const WRONG_CALL = fixture('coll/wrong-call.ts');
const PIPELINED = fixture('interleave/pipelined.ts');

describe('collectives started while a constructor of the same communicator is pending', () => {
  // Seeds per size: every seed runs every constructor with every collective family (28 × 4 cases).
  const runs: [number, number, number][] = [[2, 1, 3], [3, 4, 6], [4, 7, 9], [5, 10, 11], [6, 12, 13], [8, 14, 15]];
  it.each(runs)('%i ranks, seeds %i to %i: every result right on every rank', async (np, from, to) => {
    const r = await runJob({ np, script: INFLIGHT, args: [String(from), String(to)], timeoutMs: 240_000, launcherArgs: ['--timeout', '230'] });
    await assertNothingLeft(r, { graceMs: 2000 });
    const text = `--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;
    expect(r.code, text).toBe(0);
    const ok = linesOf(r.stdout).filter((l) => l.startsWith('OK inflight '));
    expect(ok.length, text).toBe(np);
    for (const line of ok) expect(Number(/checks=(\d+)/.exec(line)![1]), line).toBeGreaterThan(100);
  }, 250_000);
});

describe('collectives issued before the earlier ones settle', () => {
  // 40 calls per seed on every rank; 8 seeds per size.
  it.each([[2, 1, 8], [3, 9, 16], [4, 17, 24], [5, 25, 32], [8, 33, 40]])('%i ranks, seeds %i to %i: every result right on every rank', async (np, from, to) => {
    const r = await runJob({ np, script: PIPELINED, args: [String(from), String(to)], timeoutMs: 120_000, launcherArgs: ['--timeout', '110'] });
    await assertNothingLeft(r, { graceMs: 2000 });
    const text = `--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;
    expect(r.code, text).toBe(0);
    const ok = linesOf(r.stdout).filter((l) => l.startsWith('OK pipelined '));
    expect(ok.map((l) => Number(/rank=(\d+)/.exec(l)![1])).sort((a, b) => a - b), text).toEqual(Array.from({ length: np }, (_, i) => i));
    for (const line of ok) expect(line, text).toContain(`checks=${40 * (to - from + 1)}`);
  }, 130_000);
});

describe('mismatched collectives fail the call on every rank with TSMPI_ERR_COLL_MISMATCH', () => {
  const CASES: [string, (np: number) => RegExp][] = [
    ['bcast vs reduce', () => /rank \d+ called (reduce\(root=0\) where rank \d+ called bcast\(root=0\)|bcast\(root=0\) where rank \d+ called reduce\(root=0\))/],
    ['barrier vs allreduce', () => /called (barrier|allreduce) where rank \d+ called (allreduce|barrier)/],
    ['bcast roots differ', (np) => new RegExp(`called bcast\\(root=(0|${np - 1})\\) where rank \\d+ called bcast\\(root=(${np - 1}|0)\\)`)],
    ['gather roots differ', (np) => new RegExp(`called gather\\(root=(0|${np - 1})\\) where rank \\d+ called gather\\(root=(${np - 1}|0)\\)`)],
    ['Bcast vs bcast', () => /called (Bcast|bcast)\(root=0\) where rank \d+ called (bcast|Bcast)\(root=0\)/],
    ['scan vs allgather', () => /called (scan|allgather) where rank \d+ called (allgather|scan)/],
    ['Allreduce vs Reduce_scatter_block', () => /called (Allreduce|Reduce_scatter_block) where rank \d+ called (Reduce_scatter_block|Allreduce)/],
    ['split vs allreduce', () => /called (split|allreduce) where rank \d+ called (allreduce|split)/],
    ['dup vs barrier', () => /called (dup|barrier) where rank \d+ called (barrier|dup)/],
    ['scatter vs gather, last rank odd', () => /called (scatter|gather)\(root=0\) where rank \d+ called (gather|scatter)\(root=0\)/],
  ];

  for (const [np, sub] of [[2, false], [3, true], [4, false], [5, true]] as const) {
    it(`${np} ranks${sub ? ', on a communicator of their own' : ''}: every case, every rank, and the communicator still works`, async () => {
      const args = [...CASES.map(([name]) => name), ...(sub ? ['--sub'] : [])];
      const r = await runJob({ np, script: WRONG_CALL, args, timeoutMs: 120_000, launcherArgs: ['--timeout', '110'] });
      await assertNothingLeft(r, { graceMs: 2000 });
      const text = `--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;
      expect(r.code, text).toBe(0);
      const lines = linesOf(r.stdout);
      const comm = sub ? 'COMM_WORLD.split(1)' : 'COMM_WORLD';
      for (const [name, pattern] of CASES) {
        for (let rank = 0; rank < np; rank++) {
          const outcome = lines.find((l) => l.startsWith(`OUTCOME ${name} rank=${rank} `));
          expect(outcome, `${name}, rank ${rank}\n${text}`).toBeDefined();
          expect(outcome, text).toContain('TSMPI_ERR_COLL_MISMATCH');
          expect(outcome, text).toMatch(pattern(np));
          expect(outcome, text).toMatch(new RegExp(`: collective #\\d+ on ${comm.replace(/[().]/g, '\\$&')}$`));
          expect(lines, text).toContain(`ALIVE ${name} rank=${rank} ${np}`);
        }
      }
    }, 130_000);
  }
});
