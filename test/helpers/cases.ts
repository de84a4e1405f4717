// Runs test/fixtures/p2p/cases.ts (point-to-point cases, one "OK <case> rank=R[ detail]" line per rank
// and case) as one job, and checks each case's lines separately, so that a failing case is reported by name
// while the job is paid for once.
import { expect } from 'vitest';
import { fixture, linesOf, runJob, type Job, type JobResult } from './job.js';

export const CASES_SCRIPT = fixture('p2p/cases.ts');

export interface CaseRun {
  np: number;
  cases: readonly string[];
  result: JobResult;
  job: Job;
}

export async function runCases(
  np: number, cases: readonly string[], options: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<CaseRun> {
  const { job, ...result } = await runJob({
    np, script: CASES_SCRIPT, args: [...cases], env: options.env, timeoutMs: options.timeoutMs ?? 60_000,
  });
  return { np, cases, result, job };
}

/** The exact lines a case must print: one per rank, with the detail the case reports (if any). */
export function expectedCaseLines(name: string, np: number, detail?: (rank: number) => string): string[] {
  return Array.from({ length: np }, (_, r) => `OK ${name} rank=${r}${detail ? ` ${detail(r)}` : ''}`);
}

/** Asserts that every rank printed exactly the expected line for `name`. */
export function expectCase(run: CaseRun, name: string, detail?: (rank: number) => string): void {
  const printed = linesOf(run.result.stdout).filter((l) => l.startsWith(`OK ${name} `)).sort();
  const expected = expectedCaseLines(name, run.np, detail).sort();
  expect(printed, `case ${name} at np=${run.np}:\n${run.job.describe(run.result)}`).toEqual(expected);
}

/** Asserts the job ended 0 with nothing but OK lines on stdout and nothing on stderr. */
export function expectCleanRun(run: CaseRun): void {
  const text = run.job.describe(run.result);
  expect({ code: run.result.code, signal: run.result.signal }, text).toEqual({ code: 0, signal: null });
  expect(linesOf(run.result.stdout).filter((l) => !/^OK \S+ rank=\d+/.test(l)), text).toEqual([]);
  expect(run.result.stderr, text).toBe('');
  expect(linesOf(run.result.stdout).length, text).toBe(run.np * run.cases.length);
}
