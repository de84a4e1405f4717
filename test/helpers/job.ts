// Harness for integration tests that start real tsmpi jobs: `node dist/launcher/bin.js …` (the built
// tsmpirun), each job with a fresh TMPDIR of its own, so that afterwards we can prove the job left nothing
// behind: no process whose command line or environment mentions that TMPDIR (found by reading /proc
// directly), and no `tsmpi-*` job directory inside it.
//
// Cleanup is robust: a hard timeout SIGKILLs the launcher (by PID), then every process the /proc scan still
// finds (by PID), and fails the test with everything the job printed. Every job started here is remembered
// until it is disposed, so `disposeAllJobs()` in an afterEach/afterAll hook ends whatever a failing test left.
//
// The built launcher is used (run `npx tsc -p .` first): the tests exercise what users run.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const LAUNCHER = join(REPO, 'dist', 'launcher', 'bin.js');
/** The one-file launcher, which package.json's `bin` (BIN_LAUNCHER) runs. */
export const BUNDLED_LAUNCHER = join(REPO, 'dist', 'tsmpirun.js');
/** What `npx tsmpirun` runs: a shell script that starts BUNDLED_LAUNCHER (bin/tsmpirun). */
export const BIN_LAUNCHER = join(REPO, 'bin', 'tsmpirun');
export const FIXTURES = join(REPO, 'test', 'fixtures');

/** Absolute path of a fixture program: `fixture('p2p/cases.ts')`. */
export function fixture(relative: string): string {
  const path = join(FIXTURES, relative);
  if (!existsSync(path)) throw new Error(`no such fixture: ${path}`);
  return path;
}

export interface JobOptions {
  /** Ranks (`-np N`); omitted: no -np is given. */
  np?: number;
  /** Script path (absolute, or relative to cwd); omitted: no script is given (a usage error). */
  script?: string;
  /** Arguments of the script. */
  args?: string[];
  /** Extra environment of tsmpirun (and thereby the ranks). */
  env?: Record<string, string | undefined>;
  /** Options of tsmpirun, before -np and the script. */
  launcherArgs?: string[];
  /** The launcher to run; LAUNCHER (the modules tsc emits) when omitted. */
  launcher?: string;
  /** Hard limit: past it the job is killed and the test fails with the job's output. */
  timeoutMs?: number;
  cwd?: string;
  /** Written to tsmpirun's stdin, which is then closed. Omitted: stdin is closed at once. */
  stdin?: string | Buffer;
  /** Keep stdin open (the test writes to `job.child.stdin` itself). */
  keepStdinOpen?: boolean;
}

export interface JobResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit. */
  ms: number;
}

export interface Line {
  stream: 'stdout' | 'stderr';
  text: string;
  /** ms since the job was spawned. */
  at: number;
}

const DEFAULT_TIMEOUT_MS = 60_000;

/**
 * `--timeout` for tests whose hang report must show every rank blocked. tsmpirun counts it from its own
 * start, so it must outlast the ranks' start-up: on a loaded 2-core machine (or over ssh) ranks have
 * needed more than 2 s to reach their blocking call, and the report then said "not waiting" or "no
 * answer" for them. Such tests also check that every rank announced its blocking call before it.
 */
export const HANG_REPORT_TIMEOUT_S = 10;

/** What one try of a `--timeout` test found: its checks ran, or the machine was too slow to tell. */
export type DeadlineTry = 'checked' | 'ranks not ready in time';

/**
 * Runs a `--timeout` test with HANG_REPORT_TIMEOUT_S, and again with two and four times that while the
 * ranks were not all in their blocking call when the deadline fired: on a loaded machine (or through
 * ssh) start-up alone has taken longer than 10 s, which says nothing about tsmpi. `attempt` ends its own
 * job either way; on the last try it must run every check (`lastTry` is true), so a real fault fails.
 */
export async function withDeadlineRoomForLoad(attempt: (timeoutS: number, lastTry: boolean) => Promise<DeadlineTry>): Promise<void> {
  const deadlines = [1, 2, 4].map((factor) => factor * HANG_REPORT_TIMEOUT_S);
  for (const [i, timeoutS] of deadlines.entries()) {
    const lastTry = i === deadlines.length - 1;
    const outcome = await attempt(timeoutS, lastTry);
    if (outcome === 'checked') return;
    if (lastTry) throw new Error(`the ranks were not all blocked within a --timeout of ${timeoutS} s`);
    console.log(`[--timeout test] the ranks were not all blocked within ${timeoutS} s on this loaded machine; again with ${deadlines[i + 1]} s`);
  }
}

/** The test time a withDeadlineRoomForLoad test needs: every try's deadline, plus start-up and clean-up. */
export const DEADLINE_TRIES_TEST_TIMEOUT_MS = (1 + 2 + 4) * HANG_REPORT_TIMEOUT_S * 1000 + 90_000;
const live = new Set<Job>();

export class Job {
  readonly tmp: string;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly argv: string[];
  readonly lines: Line[] = [];
  readonly result: Promise<JobResult>;
  /** Set when the hard timeout fired. */
  timedOut = false;
  /** Set once tsmpirun has exited and its output is complete. */
  final: JobResult | undefined;
  #stdout: Buffer[] = [];
  #stderr: Buffer[] = [];
  #partial = { stdout: '', stderr: '' };
  #waiters: { test: (l: Line) => boolean; resolve: (l: Line) => void }[] = [];
  #started = Date.now();
  #timer: NodeJS.Timeout | undefined;
  #exited = false;
  #disposed = false;

  constructor(readonly options: JobOptions) {
    const launcher = options.launcher ?? LAUNCHER;
    if (!existsSync(launcher)) throw new Error(`${launcher} is missing: build first (npm run build)`);
    this.tmp = mkdtempSync(join(tmpdir(), 'tsmpi-test-job-'));
    this.argv = [launcher, ...(options.launcherArgs ?? [])];
    if (options.np !== undefined) this.argv.push('-np', String(options.np));
    if (options.script !== undefined) this.argv.push(options.script);
    this.argv.push(...(options.args ?? []));
    const env: Record<string, string | undefined> = { ...process.env, TMPDIR: this.tmp, ...options.env };
    // The test runner's own hooks must not leak into the ranks.
    delete env.NODE_OPTIONS;
    for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key];
    // A .js launcher runs under this node; bin/tsmpirun is an executable of its own (it execs node).
    const [command, args] = launcher.endsWith('.js') ? [process.execPath, this.argv] : [launcher, this.argv.slice(1)];
    this.child = spawn(command, args, {
      cwd: options.cwd ?? REPO,
      env: env as NodeJS.ProcessEnv,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    if (this.child.pid === undefined) throw new Error(`could not start ${command} ${args.join(' ')}`);
    this.pid = this.child.pid;
    live.add(this);
    this.child.stdin!.on('error', () => {});
    if (!options.keepStdinOpen) this.child.stdin!.end(options.stdin ?? '');
    for (const stream of ['stdout', 'stderr'] as const) {
      this.child[stream]!.on('data', (chunk: Buffer) => this.#onData(stream, chunk));
    }
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#timer = setTimeout(() => {
      this.timedOut = true;
      this.killEverything();
    }, timeoutMs);
    this.result = new Promise<JobResult>((resolvePromise) => {
      this.child.on('close', (code, signal) => {
        this.#exited = true;
        clearTimeout(this.#timer);
        for (const stream of ['stdout', 'stderr'] as const) {
          if (this.#partial[stream] !== '') this.#pushLine(stream, this.#partial[stream]);
          this.#partial[stream] = '';
        }
        const result: JobResult = {
          code, signal,
          stdout: Buffer.concat(this.#stdout).toString('utf8'),
          stderr: Buffer.concat(this.#stderr).toString('utf8'),
          ms: Date.now() - this.#started,
        };
        this.final = result;
        if (this.timedOut) {
          // Whatever the timeout did not catch in its first scan.
          killJobProcesses(this.tmp);
        }
        resolvePromise(result);
      });
    });
  }

  get exited(): boolean {
    return this.#exited;
  }

  get stdout(): string {
    return Buffer.concat(this.#stdout).toString('utf8');
  }

  get stderr(): string {
    return Buffer.concat(this.#stderr).toString('utf8');
  }

  /** Describes the job for failure messages. */
  describe(result: JobResult | undefined = this.final): string {
    const status = result ? `code=${result.code} signal=${result.signal} after ${result.ms} ms` : 'still running';
    return `tsmpirun ${this.argv.slice(1).join(' ')}\n(${status}${this.timedOut ? ', KILLED BY THE TEST TIMEOUT' : ''})\n`
      + `--- stdout ---\n${this.stdout}--- stderr ---\n${this.stderr}--------------`;
  }

  #onData(stream: 'stdout' | 'stderr', chunk: Buffer): void {
    (stream === 'stdout' ? this.#stdout : this.#stderr).push(chunk);
    const text = this.#partial[stream] + chunk.toString('utf8');
    const parts = text.split('\n');
    this.#partial[stream] = parts.pop()!;
    for (const p of parts) this.#pushLine(stream, p);
  }

  #pushLine(stream: 'stdout' | 'stderr', text: string): void {
    const line: Line = { stream, text, at: Date.now() - this.#started };
    this.lines.push(line);
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.test(line)) return true;
      w.resolve(line);
      return false;
    });
  }

  /**
   * Resolves with the first output line (already seen or to come) that matches; rejects if the job exits
   * without printing one, or after timeoutMs.
   */
  waitForLine(pattern: RegExp | string, options: { stream?: 'stdout' | 'stderr'; timeoutMs?: number } = {}): Promise<Line> {
    const test = (l: Line) => (options.stream === undefined || l.stream === options.stream)
      && (typeof pattern === 'string' ? l.text.includes(pattern) : pattern.test(l.text));
    const seen = this.lines.find(test);
    if (seen) return Promise.resolve(seen);
    return new Promise<Line>((resolvePromise, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`no output line matching ${String(pattern)} within ${options.timeoutMs ?? 30_000} ms\n${this.describe()}`));
      }, options.timeoutMs ?? 30_000);
      const waiter = {
        test,
        resolve: (l: Line) => { clearTimeout(timer); resolvePromise(l); },
      };
      this.#waiters.push(waiter);
      void this.result.then((r) => {
        if (!this.#waiters.includes(waiter)) return;
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        clearTimeout(timer);
        reject(new Error(`job exited without an output line matching ${String(pattern)}\n${this.describe(r)}`));
      });
    });
  }

  /** Waits until `count` distinct lines match (e.g. one READY line per rank). */
  async waitForLines(pattern: RegExp, count: number, timeoutMs = 30_000): Promise<Line[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines.filter((l) => pattern.test(l.text));
      if (found.length >= count) return found;
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`only ${found.length} of ${count} lines matching ${String(pattern)}\n${this.describe()}`);
      // Wait for the next matching line (no polling: the line itself wakes us).
      const seen = new Set(found);
      await this.waitForLineAfter((l) => pattern.test(l.text) && !seen.has(l), remaining);
    }
  }

  private waitForLineAfter(test: (l: Line) => boolean, timeoutMs: number): Promise<Line> {
    return new Promise<Line>((resolvePromise, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for output\n${this.describe()}`)), timeoutMs);
      const waiter = { test, resolve: (l: Line) => { clearTimeout(timer); resolvePromise(l); } };
      this.#waiters.push(waiter);
      void this.result.then((r) => {
        if (!this.#waiters.includes(waiter)) return;
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        clearTimeout(timer);
        reject(new Error(`job exited while waiting for output\n${this.describe(r)}`));
      });
    });
  }

  /** Sends a signal to tsmpirun (by PID). */
  signal(signal: NodeJS.Signals): void {
    if (!this.#exited) process.kill(this.pid, signal);
  }

  /** SIGKILL tsmpirun, then every process of the job the /proc scan finds. */
  killEverything(): void {
    if (!this.#exited) {
      try { process.kill(this.pid, 'SIGKILL'); } catch { /* gone */ }
    }
    killJobProcesses(this.tmp);
  }

  /** Kills whatever is left (if anything) and removes the job's TMPDIR. Idempotent. */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    clearTimeout(this.#timer);
    if (!this.#exited) {
      this.killEverything();
      await this.result;
    }
    killJobProcesses(this.tmp);
    rmSync(this.tmp, { recursive: true, force: true });
    live.delete(this);
  }
}

/** Starts a job and returns at once; the caller must `dispose()` it (or rely on disposeAllJobs). */
export function startJob(options: JobOptions): Job {
  return new Job(options);
}

/**
 * Runs a job to its end. Fails (throws, with the collected output) if the hard timeout had to kill it.
 * The job's TMPDIR is kept until `assertNothingLeft` or `dispose` (or disposeAllJobs) runs.
 */
export async function runJob(options: JobOptions): Promise<JobResult & { job: Job }> {
  const job = startJob(options);
  const result = await job.result;
  if (job.timedOut) {
    const text = job.describe(result);
    await job.dispose();
    throw new Error(`job exceeded its ${options.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms limit and was killed:\n${text}`);
  }
  return { ...result, job };
}

/** Every job that has not been disposed: kill and clean up (for afterEach/afterAll hooks). */
export async function disposeAllJobs(): Promise<void> {
  await Promise.all([...live].map((j) => j.dispose()));
}

// ---------------------------------------------------------------------------------------------------------
// What a job leaves behind

export interface Leftovers {
  processes: { pid: number; cmdline: string }[];
  jobDirs: string[];
}

function readProcText(path: string): string | undefined {
  try {
    return readFileSync(path).toString('latin1');
  } catch {
    return undefined;
  }
}

/** Processes (other than this one) whose command line or environment mentions `needle`, read from /proc. */
export function findProcessesMentioning(needle: string): { pid: number; cmdline: string }[] {
  const found: { pid: number; cmdline: string }[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return found;
  }
  for (const entry of entries) {
    if (!/^[0-9]+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    const cmdline = readProcText(`/proc/${pid}/cmdline`);
    if (cmdline === undefined) continue; // gone meanwhile
    const environ = readProcText(`/proc/${pid}/environ`) ?? '';
    let cwd = '';
    try { cwd = readlinkSync(`/proc/${pid}/cwd`); } catch { /* not ours, or gone */ }
    if (cmdline.includes(needle) || environ.includes(needle) || cwd.startsWith(needle)) {
      found.push({ pid, cmdline: cmdline.split('\0').join(' ').trim() });
    }
  }
  return found;
}

/** SIGKILLs, by PID, every process that mentions the job's TMPDIR. */
export function killJobProcesses(tmp: string): number[] {
  const killed: number[] = [];
  for (const p of findProcessesMentioning(tmp)) {
    try {
      process.kill(p.pid, 'SIGKILL');
      killed.push(p.pid);
    } catch { /* gone */ }
  }
  return killed;
}

export function leftovers(job: Job): Leftovers {
  const jobDirs = existsSync(job.tmp) ? readdirSync(job.tmp).filter((n) => n.startsWith('tsmpi-')) : [];
  return { processes: findProcessesMentioning(job.tmp), jobDirs };
}

/**
 * Default time a process of a finished job gets to disappear before it counts as left behind. tsmpirun
 * waits for its ranks, so a rank is never still there; but a helper that ends *because* tsmpirun ended
 * (the job-directory reaper's `cat`, which exits at EOF of a pipe tsmpirun held) needs to be scheduled once
 * more, which on a loaded 2-core machine can take a moment. launcher.test.ts checks that case strictly.
 */
export const DEFAULT_LEFTOVER_GRACE_MS = 1000;

/**
 * Asserts that the (finished) job left no process and no `tsmpi-*` directory in its TMPDIR, then kills
 * whatever was found and removes the TMPDIR either way. Processes still found are re-checked as they go
 * for up to `graceMs` (default DEFAULT_LEFTOVER_GRACE_MS; 0 makes the check strict and immediate).
 */
export async function assertNothingLeft(
  job: Job | { job: Job },
  options: { graceMs?: number; allowJobDir?: boolean } = {},
): Promise<void> {
  const j = job instanceof Job ? job : job.job;
  try {
    if (!j.exited) throw new Error(`assertNothingLeft: the job is still running\n${j.describe()}`);
    let left = leftovers(j);
    const deadline = Date.now() + (options.graceMs ?? DEFAULT_LEFTOVER_GRACE_MS);
    while ((left.processes.length > 0 || (left.jobDirs.length > 0 && !options.allowJobDir)) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20)); // waiting for a condition (processes gone), not for sync
      left = leftovers(j);
    }
    const problems: string[] = [];
    if (left.processes.length > 0) {
      problems.push(`processes of the job still running:\n${left.processes.map((p) => `  ${p.pid}: ${p.cmdline}`).join('\n')}`);
    }
    if (left.jobDirs.length > 0 && !options.allowJobDir) {
      problems.push(`job directories left in ${j.tmp}: ${left.jobDirs.join(', ')}`);
    }
    if (problems.length > 0) throw new Error(`the job left things behind:\n${problems.join('\n')}\n${j.describe()}`);
  } finally {
    await j.dispose();
  }
}

/** Output lines of one stream, without the trailing empty line. */
export function linesOf(text: string): string[] {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

/** The lines of `text` that are JSON objects (what report-printing fixtures write), parsed. */
export function jsonReports<T>(text: string): T[] {
  return linesOf(text).filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as T);
}

/** The kernel's transparent huge page mode ('always', 'madvise', 'never'), undefined where unknown. */
export function transparentHugePagesMode(): string | undefined {
  try {
    return /\[(\w+)\]/.exec(readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

/**
 * Runs the test's checks on a job, then `assertNothingLeft` whatever happened. If both fail, the checks'
 * error is thrown with the leftovers added to its message (neither hides the other).
 */
export async function checkThenNothingLeft(
  job: Job | { job: Job },
  checks: () => unknown,
  options: { graceMs?: number; allowJobDir?: boolean } = {},
): Promise<void> {
  let failure: unknown;
  try {
    await checks();
  } catch (e) {
    failure = e;
  }
  try {
    await assertNothingLeft(job, options);
  } catch (e) {
    if (failure === undefined) throw e;
    if (failure instanceof Error) failure.message += `\n\nMoreover, ${(e as Error).message}`;
  }
  if (failure !== undefined) throw failure;
}
