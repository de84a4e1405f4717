// tsmpirun inside a Slurm allocation (issue 7, "Slurm"), on the single-node Slurm of test/infra/slurm.sh:
// with no --host, tsmpirun starts its ranks as the tasks of one srun step, -np defaulting to the
// allocation's task count. Checked: the shipped examples/slurm/job.sbatch submitted with sbatch (its output
// file and the job's exit code, read with `scontrol show job` while the job is remembered); a batch job
// whose rank fails (the job fails with that rank's code); under salloc, abort's code and stdin to rank 0;
// and tsmpirun SIGKILLed in the middle of a step (srun would leave a step running: the agents end it).
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LAUNCHER, REPO, SETUP_TIMEOUT_MS, describeRun, leaveTestSlurm, leftBehind, runWithTmp, skipWithoutRoot, sortedLines, useTestSlurm,
  type RunResult,
} from '../infra/cluster.js';

const WHERE = join(REPO, 'test', 'fixtures', 'cluster', 'where.ts');
const JOB_WAIT_MS = 60_000;
const skip = skipWithoutRoot(import.meta.url, 'install slurm-wlm and munge via apt and start munged, slurmctld and slurmd');

beforeAll(useTestSlurm, SETUP_TIMEOUT_MS);
afterAll(leaveTestSlurm, SETUP_TIMEOUT_MS);

interface BatchResult { state: string; exitCode: string; output: string; id: string; ms: number }

/** sbatch, then polls `scontrol show job` (no accounting here: sacct is unavailable) until the job ends. */
async function batch(script: string, args: string[], tmp: string): Promise<BatchResult> {
  const started = performance.now();
  const outFile = join(tmp, 'slurm-%j.out');
  const submitted = spawnSync('sbatch', ['--parsable', '--chdir', REPO, `--output=${outFile}`, `--export=ALL,TMPDIR=${tmp}`, script, ...args], { encoding: 'utf8' });
  if (submitted.status !== 0) throw new Error(`sbatch failed: ${submitted.stderr}`);
  const id = submitted.stdout.trim().split(';')[0]!;
  for (;;) {
    const shown = spawnSync('scontrol', ['show', 'job', '-o', id], { encoding: 'utf8' }).stdout;
    const state = /JobState=(\S+)/.exec(shown)?.[1] ?? 'UNKNOWN';
    if (['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'NODE_FAIL', 'OUT_OF_MEMORY'].includes(state)) {
      const path = outFile.replace('%j', id);
      const output = existsSync(path) ? readFileSync(path, 'utf8') : '';
      rmSync(path, { force: true });
      return { state, exitCode: /ExitCode=(\S+)/.exec(shown)?.[1] ?? '?', output, id, ms: performance.now() - started };
    }
    if (performance.now() - started > JOB_WAIT_MS) {
      spawnSync('scancel', [id]);
      throw new Error(`batch job ${id} did not end within ${JOB_WAIT_MS} ms (state ${state})`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function describeBatch(b: BatchResult): string {
  return `job ${b.id}: ${b.state} ExitCode=${b.exitCode} after ${b.ms.toFixed(0)} ms\n--- output\n${b.output}---`;
}

/** `salloc -n N tsmpirun …` with a TMPDIR of its own (salloc runs the command inside the allocation). */
function salloc(tasks: number, args: string[], options: Parameters<typeof runWithTmp>[2] = {}): Promise<RunResult> {
  return runWithTmp('salloc', ['--quiet', `--ntasks=${tasks}`, '--immediate=30', process.execPath, LAUNCHER, ...args], options);
}

describe.skipIf(skip)('tsmpirun inside a Slurm allocation', () => {
  it('sbatch examples/slurm/job.sbatch: the job completes with exit code 0 and its output file has the result', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'tsmpi-test-batch-'));
    const b = await batch(join(REPO, 'examples', 'slurm', 'job.sbatch'), ['3000000'], tmp);
    const left = await leftBehind({ tmp });
    console.log(`[slurm-batch] job.sbatch: ${b.state} ${b.exitCode} in ${b.ms.toFixed(0)} ms`);
    expect(b.state, describeBatch(b)).toBe('COMPLETED');
    expect(b.exitCode, describeBatch(b)).toBe('0:0');
    expect(b.output, describeBatch(b)).toMatch(/^The area is 8\.17\d*$/m);
    expect(left, describeBatch(b)).toBe('');
  });

  it('a batch job whose rank fails: the job FAILS with that rank\'s exit code', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'tsmpi-test-batch-'));
    const b = await batch(join(REPO, 'test', 'fixtures', 'cluster', 'fail.sbatch'), [], tmp);
    const left = await leftBehind({ tmp });
    console.log(`[slurm-batch] fail.sbatch: ${b.state} ${b.exitCode} in ${b.ms.toFixed(0)} ms`);
    expect(b.state, describeBatch(b)).toBe('FAILED');
    expect(b.exitCode, describeBatch(b)).toBe('3:0');
    expect(sortedLines(b.output, /^rank \d\/4 on /).length, describeBatch(b)).toBe(4);
    expect(b.output, describeBatch(b)).toContain('rank 2 exited with code 3');
    expect(left, describeBatch(b)).toBe('');
  });

  it('salloc: -np defaults to the task count, ranks run as srun tasks, abort(9) is the exit status', async () => {
    const r = await salloc(3, [WHERE, 'abort', '1', '9']);
    const why = describeRun('salloc abort', r);
    expect(r.code, why).toBe(9);
    expect(r.stderr, why).toContain('rank 1 called abort(9)');
    expect(sortedLines(r.stdout, /^rank \d\/3 on /).length, why).toBe(3);
    expect(await leftBehind(r), why).toBe('');
  });

  it('salloc: stdin reaches rank 0 and --tag-output tags every rank\'s lines', async () => {
    const input = Array.from({ length: 5000 }, (_, i) => `line ${i + 1}`).join('\n') + '\n';
    const r = await salloc(4, ['--tag-output', WHERE, 'stdin'], { stdin: input });
    const why = describeRun('salloc stdin', r);
    expect(r.code, why).toBe(0);
    expect(sortedLines(r.stdout, /^\[\d\] rank /), why).toEqual(
      [0, 1, 2, 3].map((rank) => `[${rank}] rank ${rank}/4 got ${input.length} bytes, last line line 5000`),
    );
    expect(await leftBehind(r), why).toBe('');
  });

  it('tsmpirun SIGKILLed while its srun step runs: the ranks and the step end, nothing is left', async () => {
    const r = await salloc(4, [WHERE, 'hang'], {
      killOnLine: (_line, lines) => lines.filter((l) => l.startsWith('ready ')).length === 4,
      kill: 'launcher',
    });
    const why = describeRun('SIGKILLed tsmpirun under salloc', r);
    expect(sortedLines(r.stdout, /^ready /), why).toEqual(['ready 0', 'ready 1', 'ready 2', 'ready 3']);
    expect(await leftBehind(r, { graceMs: 10_000 }), why).toBe('');
  });
});
