// Ranks started by real PMI launchers, no tsmpirun: `srun --mpi=pmi2` on a single-node Slurm that this
// file starts (test/infra/slurm.sh) and MPICH's `mpiexec.hydra` (test/infra/mpich.sh), each rank running
// test/fixtures/pmi/driver.mjs on the built client (dist/runtime/env/pmi.js): put addr-<rank>, fence, get
// every other rank's, finalize, end by itself. Both dialects under both launchers, a value long enough to
// be split across keys, Hydra's -pmi-port mode, and an aborting rank that must make the launcher end the
// job: Hydra exits with the code given to abort (7), srun SIGKILLs the step and exits 137.
//
// Then the runtime itself under both launchers (runtime/env/join-pmi.ts): `srun --mpi=pmi2 -n 4 tsmpirun
// prog.ts` and `mpiexec.hydra -n 4 tsmpirun prog.ts` (tsmpirun as a PMI task runs its script as that rank),
// and a plain `node prog.mjs` importing tsmpi: output, exit status, a failing rank ending the job (srun:
// 137; Hydra: the rank's code), and nothing left (processes or directories in the run's own TMPDIR).
//
// Hydra's control port listens on every interface (no option changes that), so mpiexec runs inside a
// private network namespace with only loopback up. Slurm is configured to listen on 127.0.0.1 only.
//
// Needs root (apt-get install, starting munged/slurmctld/slurmd, unshare); without it the file is skipped
// with one line saying so. No process started here outlives the file: afterAll stops Slurm (unless
// another test file still holds it, see slurm.sh) and kills any stray driver by PID.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SETUP_TIMEOUT_MS, describeRun as describeJob, infra, leaveTestSlurm, leftBehind, runWithTmp, skipWithoutRoot, sortedLines, useTestSlurm,
  type RunResult as JobRun,
} from './infra/cluster.js';
import { checkTraceFile } from './helpers/trace-check.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DRIVER = join(REPO, 'test', 'fixtures', 'pmi', 'driver.mjs');
const BUILT_CLIENT = join(REPO, 'dist', 'runtime', 'env', 'pmi.js');
const LAUNCHER = join(REPO, 'dist', 'launcher', 'bin.js');
const RING = join(REPO, 'examples', 'ring.ts');
const WHERE = join(REPO, 'test', 'fixtures', 'cluster', 'where.ts');
const PLAIN = join(REPO, 'test', 'fixtures', 'cluster', 'plain.mjs');
const RING_LINES = [0, 1, 2, 3].map((r) => `I am rank ${r} ; my right neighbour is ${(r + 1) % 4}`);

/** A job of tsmpi ranks under a PMI launcher, with a TMPDIR of its own; fails the test on leftovers. */
async function pmiJob(what: string, command: string, args: string[]): Promise<JobRun> {
  const r = await runWithTmp(command, args, { timeoutMs: RUN_TIMEOUT_MS });
  console.log(`[pmi-integration] ${what}: exit ${r.code}, ${r.ms.toFixed(0)} ms`);
  expect(await leftBehind(r, { graceMs: GROUP_EXIT_GRACE_MS }), describeJob(what, r)).toBe('');
  return r;
}
/** One launcher run; a healthy one takes well under a second. */
const RUN_TIMEOUT_MS = 60_000;
/** The abort driver's survivors wait 30 s before giving up; a launcher that honours abort ends far sooner. */
const ABORT_DEADLINE_MS = 20_000;

/** How long a launcher's helpers and ranks (Hydra's proxies end theirs a little after mpiexec exits) may
 *  outlive it before they count as left behind. */
const GROUP_EXIT_GRACE_MS = 5_000;

interface RunResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
  /** A process of the launcher's group, or a driver rank, was still alive GROUP_EXIT_GRACE_MS after the
   *  launcher exited (it has been SIGKILLed since). */
  leftBehind: boolean;
}

interface ProcInfo {
  pid: number;
  pgid: number;
  cmdline: string;
}

/** Live (non-zombie) processes, read from /proc. Zombies are skipped: a launcher's orphaned children are
 *  reaped by PID 1 in its own time, and a zombie runs nothing. */
function liveProcesses(): ProcInfo[] {
  const found: ProcInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      // "pid (comm) state ppid pgrp …": comm may contain spaces and parentheses, so parse after the last ')'.
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state === 'Z' || state === 'X') continue;
      found.push({ pid: Number(entry), pgid: Number(pgrp), cmdline: readFileSync(`/proc/${entry}/cmdline`, 'latin1') });
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

/** Ranks a launcher failed to end: processes running the driver. */
function strayDrivers(): number[] {
  return liveProcesses().filter((p) => p.cmdline.includes(DRIVER)).map((p) => p.pid);
}

/** After a launcher exits, waits for its process group and every driver rank to be gone (Hydra's proxies
 *  run in sessions of their own and end their ranks a little after mpiexec exits); SIGKILLs by PID what
 *  is still there after the grace period and reports that. */
async function reapAfter(pgid: number): Promise<boolean> {
  const deadline = performance.now() + GROUP_EXIT_GRACE_MS;
  for (;;) {
    const left = liveProcesses().filter((p) => p.pgid === pgid || p.cmdline.includes(DRIVER));
    if (left.length === 0) return false;
    if (performance.now() > deadline) {
      for (const p of left) {
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          // exited meanwhile
        }
      }
      return true;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Runs a launcher in its own process group; on timeout the group gets SIGTERM (srun then cancels its
 *  step), then SIGKILL after 3 s. Resolves once the whole group is gone, not just the launcher. */
function run(command: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  const started = performance.now();
  return new Promise((resolvePromise) => {
    const child = spawn(command, args, {
      cwd: REPO,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const killGroup = (signal: NodeJS.Signals): void => {
      try {
        process.kill(-child.pid!, signal);
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      stderr += `\n[test] timed out after ${RUN_TIMEOUT_MS} ms; killing process group ${child.pid}\n`;
      killGroup('SIGTERM');
      setTimeout(() => killGroup('SIGKILL'), 3_000).unref();
    }, RUN_TIMEOUT_MS);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      const ms = performance.now() - started;
      void reapAfter(child.pid!).then((leftBehind) => resolvePromise({ status, signal, stdout, stderr, ms, leftBehind }));
    });
  });
}

function describeRun(r: RunResult): string {
  return `exit ${r.status}${r.signal ? ` (signal ${r.signal})` : ''} after ${r.ms.toFixed(0)} ms${r.leftBehind ? ', processes left behind' : ''}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;
}

/** The driver imports the built client; build when dist is missing or older than the sources. Other
 *  files of the tree may not type-check while they are being written, and tsc still emits then, so the
 *  check is that the client's output is fresh, not tsc's exit status (CI type-checks separately). */
function ensureBuilt(): void {
  const sources = ['runtime/env/pmi.ts', 'runtime/errors.ts'].map((f) => statSync(join(REPO, f)).mtimeMs);
  const fresh = (): boolean => existsSync(BUILT_CLIENT) && statSync(BUILT_CLIENT).mtimeMs >= Math.max(...sources);
  if (fresh()) return;
  const tsc = spawnSync('npx', ['tsc', '-p', '.'], { cwd: REPO, encoding: 'utf8', timeout: SETUP_TIMEOUT_MS });
  if (!fresh()) throw new Error(`npx tsc -p . did not produce ${BUILT_CLIENT}:\n${tsc.stdout}${tsc.stderr}`);
}

function killStrayDrivers(): number[] {
  const pids = strayDrivers();
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

/**
 * A job whose ranks record (the --trace, --comm-matrix and --profile outputs, or their TSMPI_* twins)
 * runs in a directory of its own: rank 0 writes the outputs there after the fence, from every rank's
 * recording, and removes the directory of recordings.
 */
async function observedPmiJob(what: string, run: (dir: string) => Promise<JobRun>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tsmpi-observe-pmi-'));
  try {
    const r = await run(dir);
    expect(r.code, describeJob(what, r)).toBe(0);
    const check = checkTraceFile(join(dir, 'trace.json'));
    expect(check.problems, describeJob(what, r)).toEqual([]);
    for (let rank = 0; rank < 4; rank++) expect(check.processNames.get(rank + 1)).toBe(`rank ${rank}`);
    const rows = readFileSync(join(dir, 'matrix.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
    expect(check.arrows.length).toBe(rows.reduce((n, row) => n + Number(row[3]), 0));
    expect(check.arrows.length).toBeGreaterThan(0);
    const files = readdirSync(dir);
    expect(files.some((f) => f.endsWith('.tsmpi-profile.txt')), files.join(' ')).toBe(true);
    expect(files.filter((f) => f.startsWith('.tsmpi-observe-')), 'the recordings directory is removed').toEqual([]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Checks the four ranks' lines: each rank once, every other rank's value read back. */
function expectExchange(r: RunResult, dialect: 'pmi1' | 'pmi2'): void {
  expect(r.status, describeRun(r)).toBe(0);
  const lines = r.stdout.split('\n').filter((line) => line.startsWith('rank '));
  const ranks = lines.map((line) => {
    expect(line, describeRun(r)).toMatch(new RegExp(`^rank \\d/4 ${dialect} got 3/3 missing=undefined [\\d.]+ms$`));
    return Number(line.slice(5, 6));
  });
  expect(ranks.sort(), describeRun(r)).toEqual([0, 1, 2, 3]);
}

function report(what: string, r: RunResult): void {
  console.log(`[pmi-integration] ${what}: exit ${r.status}, ${r.ms.toFixed(0)} ms`);
  expect(r.leftBehind, `${what} left processes running ${GROUP_EXIT_GRACE_MS} ms after exiting`).toBe(false);
}

const skip = skipWithoutRoot(import.meta.url, 'install slurm-wlm, munge and mpich via apt, start the Slurm daemons and run mpiexec in a network namespace');

describe.skipIf(skip)('srun --mpi=pmi2 on a single-node Slurm', () => {
  beforeAll(async () => {
    ensureBuilt();
    await useTestSlurm();
  }, SETUP_TIMEOUT_MS);

  afterAll(async () => {
    const stray = killStrayDrivers();
    await leaveTestSlurm();
    expect(stray, 'driver processes left running after srun').toEqual([]);
  }, SETUP_TIMEOUT_MS);

  // -O (overcommit) and --immediate: never queue behind another test's job; fail instead of waiting.
  const srun = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> =>
    run('srun', ['--mpi=pmi2', '-n', '4', '-O', '--immediate=30', 'node', DRIVER, ...args], env);

  it.each(['pmi1', 'pmi2'] as const)('exchanges addresses (%s)', async (dialect) => {
    const r = await srun([], { TSMPI_PMI: dialect });
    report(`srun ${dialect} exchange`, r);
    expectExchange(r, dialect);
  });

  it('defaults to PMI-1 and splits a long value across keys', async () => {
    const r = await srun(['long']);
    report('srun default long', r);
    expectExchange(r, 'pmi1');
  });

  it.each(['pmi1', 'pmi2'] as const)('an aborting rank ends the step: srun exits 137 (%s)', async (dialect) => {
    const r = await srun(['abort'], { TSMPI_PMI: dialect });
    report(`srun ${dialect} abort`, r);
    expect(r.stdout, describeRun(r)).toContain('rank 1/4 aborting');
    expect(r.stdout, describeRun(r)).not.toContain('UNEXPECTEDLY');
    expect(r.ms, describeRun(r)).toBeLessThan(ABORT_DEADLINE_MS);
    // Slurm's PMI abort kills every task with SIGKILL and srun reports 128+9; the code given to abort
    // only shows in srun's message for the aborting task, which exits with it before the kill lands.
    expect(r.status, describeRun(r)).toBe(137);
    expect(r.stderr, describeRun(r)).toMatch(/Killed/);
  });

  const srunJob = (what: string, program: string[]): Promise<JobRun> =>
    pmiJob(what, 'srun', ['--mpi=pmi2', '-n', '4', '-O', '--immediate=30', ...program]);

  it('runs tsmpirun as each PMI task: srun --mpi=pmi2 -n 4 tsmpirun examples/ring.ts', async () => {
    const r = await srunJob('srun tsmpirun ring', [LAUNCHER, RING]);
    expect(r.code, describeJob('srun ring', r)).toBe(0);
    expect(sortedLines(r.stdout, /^I am rank/), describeJob('srun ring', r)).toEqual(RING_LINES);
  });

  it('records a job: srun --mpi=pmi2 -n 4 tsmpirun --trace --comm-matrix --profile, and env TSMPI_* node plain.mjs', async () => {
    await observedPmiJob('srun tsmpirun observe', (dir) => srunJob('srun tsmpirun observe', [
      LAUNCHER, '--trace', join(dir, 'trace.json'), '--comm-matrix', join(dir, 'matrix.svg'), '--profile', '--output-filename', dir, RING,
    ]));
    await observedPmiJob('srun env node observe', (dir) => srunJob('srun env node observe', [
      'env', `TSMPI_TRACE=${join(dir, 'trace.json')}`, `TSMPI_COMM_MATRIX=${join(dir, 'matrix.svg')}`, `TSMPI_PROFILE=${dir}`, process.execPath, PLAIN,
    ]));
  });

  it('runs a plain node program importing tsmpi: srun --mpi=pmi2 -n 4 node plain.mjs', async () => {
    const r = await srunJob('srun plain node', [process.execPath, PLAIN]);
    expect(r.code, describeJob('srun plain', r)).toBe(0);
    expect(sortedLines(r.stdout, /^plain rank/), describeJob('srun plain', r)).toEqual(
      [0, 1, 2, 3].map((rank) => `plain rank ${rank}/4 right=${(rank + 1) % 4} sum=6`),
    );
  });

  it('a failing rank ends the step through PMI: srun exits 137, or 3 with task 2 named', async () => {
    const r = await srunJob('srun tsmpirun failing rank', [LAUNCHER, WHERE, 'fail', '2', '3']);
    // Rank 2 exits with 3 after its PMI abort; its peers see it gone and fail too. Slurm's kill (137)
    // usually lands first; on a busy machine every task may already have ended by itself, and srun
    // then exits with the highest task status, 3, naming task 2. Either way the step ends promptly.
    expect([137, 3], describeJob('srun fail', r)).toContain(r.code);
    if (r.code === 3) expect(r.stderr, describeJob('srun fail', r)).toMatch(/task 2: Exited with exit code 3/);
    expect(sortedLines(r.stdout, /^rank \d\/4 on /).length, describeJob('srun fail', r)).toBe(4);
    expect(r.ms, describeJob('srun fail', r)).toBeLessThan(ABORT_DEADLINE_MS);
  });
});

describe.skipIf(skip)('mpiexec.hydra inside unshare --net', () => {
  beforeAll(async () => {
    ensureBuilt();
    await infra('mpich.sh', []);
  }, SETUP_TIMEOUT_MS);

  afterAll(() => {
    expect(killStrayDrivers(), 'driver processes left running after mpiexec').toEqual([]);
  });

  // -launcher fork: inside a Slurm allocation (SLURM_JOB_ID in the environment) Hydra would otherwise
  // start its proxies through srun; this test is about Hydra's own PMI server on one host.
  const hydra = (hydraArgs: string[], driverArgs: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> =>
    run('unshare', [
      '--net', 'sh', '-c', 'ip link set lo up && exec mpiexec.hydra "$@"', 'sh',
      '-launcher', 'fork', ...hydraArgs, '-n', '4', 'node', DRIVER, ...driverArgs,
    ], env);

  it.each(['pmi1', 'pmi2'] as const)('exchanges addresses (%s)', async (dialect) => {
    const r = await hydra([], [], { TSMPI_PMI: dialect });
    report(`hydra ${dialect} exchange`, r);
    expectExchange(r, dialect);
  });

  it.each(['pmi1', 'pmi2'] as const)('-pmi-port mode (PMI_PORT + PMI_ID) with a long value (%s)', async (dialect) => {
    const r = await hydra(['-pmi-port'], ['long'], { TSMPI_PMI: dialect });
    report(`hydra -pmi-port ${dialect} long`, r);
    expectExchange(r, dialect);
  });

  it.each(['pmi1', 'pmi2'] as const)('an aborting rank ends the job with its exit code 7 (%s)', async (dialect) => {
    const r = await hydra([], ['abort'], { TSMPI_PMI: dialect });
    report(`hydra ${dialect} abort`, r);
    // The aborting rank's last line may be lost: Hydra tears its proxies down (and the output they
    // still hold) as soon as the abort arrives. The exit status is what carries the abort.
    expect(r.stdout, describeRun(r)).not.toContain('UNEXPECTEDLY');
    expect(r.ms, describeRun(r)).toBeLessThan(ABORT_DEADLINE_MS);
    expect(r.status, describeRun(r)).toBe(7);
  });

  const hydraJob = (what: string, program: string[]): Promise<JobRun> =>
    pmiJob(what, 'unshare', ['--net', 'sh', '-c', 'ip link set lo up && exec mpiexec.hydra "$@"', 'sh', '-launcher', 'fork', '-n', '4', ...program]);

  it('runs tsmpirun as each PMI task: mpiexec.hydra -n 4 tsmpirun examples/ring.ts', async () => {
    const r = await hydraJob('hydra tsmpirun ring', [LAUNCHER, RING]);
    expect(r.code, describeJob('hydra ring', r)).toBe(0);
    expect(sortedLines(r.stdout, /^I am rank/), describeJob('hydra ring', r)).toEqual(RING_LINES);
  });

  it('records a job: mpiexec.hydra -n 4 tsmpirun --trace --comm-matrix --profile', async () => {
    await observedPmiJob('hydra tsmpirun observe', (dir) => hydraJob('hydra tsmpirun observe', [
      LAUNCHER, '--trace', join(dir, 'trace.json'), '--comm-matrix', join(dir, 'matrix.svg'), '--profile', '--output-filename', dir, RING,
    ]));
  });

  it('a failing rank ends the job with its exit code (3)', async () => {
    const r = await hydraJob('hydra tsmpirun failing rank', [LAUNCHER, WHERE, 'fail', '2', '3']);
    expect(r.code, describeJob('hydra fail', r)).toBe(3);
    expect(sortedLines(r.stdout, /^rank \d\/4 on /).length, describeJob('hydra fail', r)).toBe(4);
    expect(r.ms, describeJob('hydra fail', r)).toBeLessThan(ABORT_DEADLINE_MS);
  });

  it('abort(6) in a rank: Hydra exits 6', async () => {
    const r = await hydraJob('hydra tsmpirun abort', [LAUNCHER, WHERE, 'abort', '1', '6']);
    expect(r.code, describeJob('hydra abort', r)).toBe(6);
  });
});
