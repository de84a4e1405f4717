// Helpers of the multi-host and Slurm tests (test/integration/cluster-*.test.ts, slurm-*.test.ts): start the
// namespace cluster of netns.sh, run commands (tsmpirun among them) inside a namespace host or under Slurm
// with a TMPDIR of their own, and prove afterwards that nothing of a job is left on any host. The hosts are
// network namespaces of this machine, so one /proc shows the processes of all of them.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCommand } from '../helpers/command.js';
import { LAUNCHER, REPO, findProcessesMentioning, killJobProcesses } from '../helpers/job.js';

export { LAUNCHER, REPO };

/** A fresh machine installs packages first. */
export const SETUP_TIMEOUT_MS = 300_000;

/**
 * For a test file that needs root (package installs, network namespaces, sshd, Slurm's daemons): true,
 * after one line on stderr saying why the file is skipped and how to run it, when the suite does not run
 * as root; then the file's tests are skipped (describe.skipIf). CI runs as root and runs them all.
 */
export function skipWithoutRoot(testFileUrl: string, needs: string): boolean {
  if (process.getuid?.() === 0) {
    if (!existsSync(LAUNCHER)) throw new Error(`${LAUNCHER} is missing: build first (npm run build)`);
    return false;
  }
  const file = relative(REPO, fileURLToPath(testFileUrl));
  process.stderr.write(`${file}: skipped, it needs root to ${needs}; run \`npm test\` as root (or \`sudo npm test\`) to include it\n`);
  return true;
}

/** Runs an infra script to its end; a failure becomes an error carrying the script's own message. */
export function infra(script: string, args: string[]): Promise<string> {
  return runCommand('bash', [join(REPO, 'test', 'infra', script), ...args], {
    cwd: REPO, timeoutMs: SETUP_TIMEOUT_MS, what: `bash test/infra/${script} ${args.join(' ')}`,
  });
}

// ---------------------------------------------------------------------------------------------------------
// The test Slurm

/**
 * Starts the private single-node Slurm of test/infra/slurm.sh (or joins it, when another test file
 * already started it) and points every Slurm command of this test file at it: sbatch, srun, salloc,
 * scontrol and scancel here, and the srun that tsmpirun runs inside an allocation, all read SLURM_CONF
 * from the environment they inherit from this process.
 */
export async function useTestSlurm(): Promise<void> {
  await infra('slurm.sh', ['up', '--holder', String(process.pid)]);
  const conf = /^SLURM_CONF=(.+)$/m.exec(await infra('slurm.sh', ['env']))?.[1];
  if (conf === undefined) throw new Error('test/infra/slurm.sh env printed no SLURM_CONF');
  process.env.SLURM_CONF = conf;
}

/** This test file no longer needs the test Slurm; the last one to leave stops it. */
export async function leaveTestSlurm(): Promise<void> {
  await infra('slurm.sh', ['down', '--holder', String(process.pid)]);
}

// ---------------------------------------------------------------------------------------------------------
// The namespace cluster

export interface NsHost {
  index: number;
  address: string;
  /** A process inside the host's network namespace: enter it with nsenter --net=/proc/<pid>/ns/net. */
  pid: number;
}

export interface NsCluster {
  dir: string;
  hosts: NsHost[];
  /** `ssh -F <dir>/ssh_config`: the generated client key, no host key checks. */
  sshAgent: string;
  /** `<dir>/netns-agent`: runs a command in a host's namespace with nsenter (no ssh). */
  netnsAgent: string;
  sshdPids: number[];
  stop(): Promise<void>;
}

export async function startNsCluster(count: number): Promise<NsCluster> {
  await infra('netns.sh', ['install']);
  const dir = mkdtempSync(join(tmpdir(), 'tsmpi-netns-'));
  const holder: ChildProcess = spawn('bash', [join(REPO, 'test', 'infra', 'netns.sh'), 'up', dir, String(count)], {
    cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  holder.stderr!.on('data', (d) => { output += d; });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`netns.sh up did not get ready in 60 s:\n${output}`)), 60_000);
    holder.stdout!.on('data', (d) => {
      output += d;
      if (output.includes('READY')) { clearTimeout(timer); resolve(); }
    });
    holder.on('exit', (code) => { clearTimeout(timer); reject(new Error(`netns.sh up exited with ${code}:\n${output}`)); });
  });
  const hosts = readFileSync(join(dir, 'hosts'), 'utf8').trim().split('\n').map((line) => {
    const [index, address, pid] = line.split(' ');
    return { index: Number(index), address: address!, pid: Number(pid) };
  });
  const sshdPids = hosts.map((h) => Number(readFileSync(join(dir, `sshd-${h.index}.pid`), 'utf8').trim()));
  const stop = async () => {
    if (holder.exitCode === null && holder.signalCode === null) {
      const exited = new Promise<void>((resolve) => holder.once('exit', () => resolve()));
      holder.stdin!.end();
      const timer = setTimeout(() => { try { holder.kill('SIGKILL'); } catch { /* gone */ } }, 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  return { dir, hosts, sshAgent: `ssh -F ${join(dir, 'ssh_config')}`, netnsAgent: join(dir, 'netns-agent'), sshdPids, stop };
}

// ---------------------------------------------------------------------------------------------------------
// Running commands with a TMPDIR of their own

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
  /** The command's private TMPDIR: whatever mentions it belongs to this run. */
  tmp: string;
  timedOut: boolean;
  /** Complete stdout lines, each with when it arrived (ms since the command started). */
  stdoutLines: { text: string; at: number }[];
}

export interface RunOptions {
  stdin?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** Called with each complete stdout line; returning true SIGKILLs the command (by PID) right away. */
  killOnLine?: (line: string, linesSoFar: string[]) => boolean;
  /** What killOnLine kills: the command itself (default), or the tsmpirun it started (found in /proc). */
  kill?: 'command' | 'launcher';
}

/** The tsmpirun of a run: the process running LAUNCHER whose environment mentions the run's TMPDIR. */
function launcherPid(tmp: string): number | undefined {
  return findProcessesMentioning(tmp).find((p) => p.cmdline.split(' ').includes(LAUNCHER) && !p.cmdline.startsWith('salloc'))?.pid;
}

/** Runs `command args` with TMPDIR set to a fresh directory; on timeout, SIGKILLs it and whatever mentions that directory. */
export function runWithTmp(command: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  const tmp = mkdtempSync(join(tmpdir(), 'tsmpi-test-cluster-'));
  const started = performance.now();
  const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: tmp, ...options.env };
  delete env.NODE_OPTIONS;
  const child = spawn(command, args, { cwd: REPO, env, stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin!.on('error', () => {});
  child.stdin!.end(options.stdin ?? '');
  let stdout = '';
  let stderr = '';
  let partial = '';
  const lines: string[] = [];
  const stdoutLines: RunResult['stdoutLines'] = [];
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d;
    const parts = (partial + d.toString()).split('\n');
    partial = parts.pop()!;
    for (const line of parts) {
      lines.push(line);
      stdoutLines.push({ text: line, at: performance.now() - started });
      if (!options.killOnLine?.(line, lines)) continue;
      const target = options.kill === 'launcher' ? launcherPid(tmp) : child.pid;
      if (target !== undefined) process.kill(target, 'SIGKILL');
    }
  });
  child.stderr!.on('data', (d: Buffer) => { stderr += d; });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
    killJobProcesses(tmp);
  }, options.timeoutMs ?? 60_000);
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: performance.now() - started, tmp, timedOut, stdoutLines });
    });
  });
}

export function describeRun(what: string, r: RunResult): string {
  return `${what}: exit ${r.code}${r.signal ? ` (${r.signal})` : ''} after ${r.ms.toFixed(0)} ms${r.timedOut ? ', KILLED BY THE TEST TIMEOUT' : ''}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}---`;
}

function ppidOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** Sessions (children) of the given sshd daemons still running. */
function sshdSessions(sshdPids: readonly number[]): { pid: number; cmdline: string }[] {
  if (sshdPids.length === 0) return [];
  const found: { pid: number; cmdline: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    const ppid = ppidOf(Number(entry));
    if (ppid === undefined || !sshdPids.includes(ppid)) continue;
    try {
      found.push({ pid: Number(entry), cmdline: readFileSync(`/proc/${entry}/cmdline`, 'latin1').split('\0').join(' ').trim() });
    } catch {
      // gone
    }
  }
  return found;
}

/**
 * What a finished run left behind, waiting up to `graceMs` for it to go: processes that mention its TMPDIR
 * (tsmpirun, ssh clients, agents and ranks on every host: -x TMPDIR carries it to remote ranks), tsmpi-*
 * directories in it (the job directory, each remote rank's private directory), and sshd sessions.
 * Afterwards kills what is left (by PID) and removes the TMPDIR; returns a description, '' when clean.
 */
export async function leftBehind(r: Pick<RunResult, 'tmp'>, options: { graceMs?: number; sshdPids?: number[] } = {}): Promise<string> {
  const deadline = performance.now() + (options.graceMs ?? 3000);
  let report = '';
  for (;;) {
    const processes = findProcessesMentioning(r.tmp);
    const dirs = existsSync(r.tmp) ? readdirSync(r.tmp).filter((n) => n.startsWith('tsmpi-')) : [];
    const sessions = sshdSessions(options.sshdPids ?? []);
    report = [
      ...processes.map((p) => `process ${p.pid}: ${p.cmdline}`),
      ...dirs.map((d) => `directory ${join(r.tmp, d)}`),
      ...sessions.map((p) => `sshd session ${p.pid}: ${p.cmdline}`),
    ].join('\n');
    if (report === '' || performance.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  killJobProcesses(r.tmp);
  rmSync(r.tmp, { recursive: true, force: true });
  return report;
}

/** Output lines that match, sorted (ranks print in any order). */
export function sortedLines(text: string, pattern: RegExp): string[] {
  return text.split('\n').filter((l) => pattern.test(l)).sort();
}
