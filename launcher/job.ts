// One job, start to end: a private directory and secret, the script bundled once, the control
// server, the ranks spawned, their output forwarded, their exits supervised, and everything the job
// made removed again. Resolves with the job's exit status.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import type { RankState } from '../runtime/control/messages.js';
import { ControlServer } from './control/server.js';
import type { LaunchOptions } from './options.js';
import { spawnLocalRank } from './spawn/local.js';
import { RankOutput, outputFilePath } from './stdio.js';
import { DEADLOCK_EXIT_STATUS, Supervisor, TIMEOUT_EXIT_STATUS, signalNumber } from './supervise.js';
import { DEADLOCK_POLL_MS, DeadlockDetector, STATE_REPORT_WAIT_MS, describeSnapshot, type Snapshot } from './hangs.js';
import { ScriptCompileError, bundleScript } from './transform.js';

/** How long to wait for a failed rank's last control messages (its abort reason) before judging it. */
const LAST_WORDS_WAIT_MS = 200;

export class UsageError extends Error {}

/**
 * Removes the job directory if tsmpirun dies without doing so itself (SIGKILL): a detached shell
 * waits for the end of a pipe only tsmpirun holds. On a normal end tsmpirun removes the directory
 * and stops the reaper by its PID.
 */
function startJobDirReaper(jobDir: string): ChildProcess {
  const reaper = spawn('/bin/sh', ['-c', 'cat >/dev/null; rm -rf -- "$0"', jobDir], {
    stdio: ['pipe', 'ignore', 'ignore'], detached: true,
  });
  reaper.on('error', () => {});
  reaper.unref();
  (reaper.stdin as unknown as { unref?(): void } | null)?.unref?.();
  return reaper;
}

function say(line: string): void {
  process.stderr.write(`${line}\n`);
}

export async function runJob(options: LaunchOptions): Promise<number> {
  const np = options.np ?? availableParallelism();
  const slots = options.hosts ? options.hosts.reduce((n, h) => n + h.slots, 0) : Infinity;
  if (np > slots && !options.oversubscribe) {
    throw new UsageError(`${np} ranks requested but the hosts have ${slots} slots (use --oversubscribe to allow more ranks than slots)`);
  }
  const jobDir = mkdtempSync(join(tmpdir(), 'tsmpi-'));
  const reaper = startJobDirReaper(jobDir);
  let removeJobDir = () => {
    rmSync(jobDir, { recursive: true, force: true });
    // The reaper leads its own process group (detached): end the shell and its cat together.
    try { if (reaper.pid) process.kill(-reaper.pid, 'SIGKILL'); } catch { /* already gone */ }
  };
  try {
    const bundle = join(jobDir, 'main.mjs');
    try {
      await bundleScript(options.script, bundle);
    } catch (e) {
      if (e instanceof ScriptCompileError) {
        say(`tsmpirun: cannot compile ${options.script}:\n${e.details}`);
        return 1;
      }
      throw e;
    }
    const secret = randomBytes(32);
    return await runRanks(options, np, jobDir, bundle, secret);
  } finally {
    removeJobDir();
    removeJobDir = () => {};
  }
}

async function runRanks(options: LaunchOptions, np: number, jobDir: string, bundle: string, secret: Buffer): Promise<number> {
  const children: ChildProcess[] = [];
  const stateReplies = new Map<number, (rank: number, state: RankState) => void>();
  let stateId = 0;
  let registeredCount = 0;
  let allRegistered = false;
  const supervised = Array.from({ length: np }, (_, rank) => ({
    rank,
    get pid() { return children[rank]?.pid; },
    kill(signal: NodeJS.Signals) {
      try { children[rank]?.kill(signal); } catch { /* already gone */ }
    },
  }));
  const supervisor = new Supervisor(supervised, say);

  const control = await ControlServer.start(secret, np, '127.0.0.1', {
    onRegistered: () => { allRegistered = ++registeredCount === np; },
    onAbort: (rank, code, message) => {
      if (supervisor.rankAborted(rank, code, message)) notifyPeerLost(rank, `called abort(${code})`);
    },
    onState: (rank, id, state) => stateReplies.get(id)?.(rank, state),
    onDisconnected: () => {},
  });

  function notifyPeerLost(rank: number, reason: string): void {
    for (let r = 0; r < np; r++) if (r !== rank) control.sendTo(r, { t: 'peer-lost', rank, reason });
  }

  /** Asks every live rank for its state; ranks that do not answer in time are left out. */
  async function collectStates(): Promise<{ live: number[]; snapshot: Snapshot }> {
    const id = ++stateId;
    const live = [...supervisor.liveRanks].sort((x, y) => x - y);
    const snapshot: Snapshot = new Map();
    await new Promise<void>((resolve) => {
      const deadline = setTimeout(resolve, STATE_REPORT_WAIT_MS);
      stateReplies.set(id, (rank, state) => {
        snapshot.set(rank, state);
        if (live.every((r) => snapshot.has(r))) { clearTimeout(deadline); resolve(); }
      });
      control.broadcast({ t: 'report-state', id });
    });
    stateReplies.delete(id);
    return { live, snapshot };
  }

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...options.env,
    TSMPI_CONTROL: control.url,
    TSMPI_SIZE: String(np),
    TSMPI_JOB_DIR: jobDir,
    TSMPI_SCRIPT: options.script,
  };
  const nodeArgv = ['--enable-source-maps', ...options.nodeArgs, bundle, ...options.scriptArgs];
  const outputs: Promise<void>[] = [];
  const exits: Promise<void>[] = [];

  for (let rank = 0; rank < np; rank++) {
    const child = spawnLocalRank({ rank, nodeArgv, env: { ...env, TSMPI_RANK: String(rank) }, secret, withStdin: rank === 0 });
    children.push(child);
    for (const stream of ['stdout', 'stderr'] as const) {
      const out = new RankOutput({
        rank, stream, sink: process[stream], tag: options.tagOutput,
        file: options.outputFilename ? outputFilePath(options.outputFilename, rank, stream) : undefined,
      });
      const pipe = child[stream]!;
      outputs.push(new Promise((resolve) => {
        pipe.on('data', (chunk: Buffer) => out.push(chunk));
        pipe.on('close', () => { out.end(); resolve(); });
      }));
    }
    exits.push(new Promise((resolve) => {
      child.on('error', (e) => {
        say(`tsmpirun: cannot start rank ${rank}: ${e.message}`);
        supervisor.rankExited(rank, 1, null);
        resolve();
      });
      child.on('exit', (code, signal) => {
        const failed = code !== 0 || signal !== null;
        const judge = () => {
          if (supervisor.rankExited(rank, code, signal)) notifyPeerLost(rank, signal ? `was killed by ${signal}` : `exited with code ${code}`);
          resolve();
        };
        // A failing rank's abort message may still be in flight: read it before judging the exit.
        if (failed && !supervisor.isEnding) void control.whenDisconnected(rank, LAST_WORDS_WAIT_MS).then(judge);
        else judge();
      });
    }));
  }

  const stdin = children[0]?.stdin;
  if (stdin) {
    stdin.on('error', () => {});
    process.stdin.pipe(stdin);
  }

  const onSignal = (signal: NodeJS.Signals) => {
    if (supervisor.isEnding) supervisor.killNow();
    else supervisor.end(128 + signalNumber(signal), `received ${signal}`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);

  let timeout: NodeJS.Timeout | undefined;
  if (options.timeoutSeconds !== undefined) {
    timeout = setTimeout(() => {
      void collectStates().then(({ live, snapshot }) => {
        if (supervisor.isEnding) return;
        say(`tsmpirun: the job reached its --timeout of ${options.timeoutSeconds} s; what each rank was doing:\n${describeSnapshot(live, snapshot)}`);
        supervisor.end(TIMEOUT_EXIT_STATUS, 'timeout');
      });
    }, options.timeoutSeconds * 1000);
  }

  let watching = options.deadlockDetection && np > 0;
  let wakeWatcher = () => {};
  const detector = new DeadlockDetector();
  const watchForDeadlock = async () => {
    while (watching && !supervisor.isEnding) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, DEADLOCK_POLL_MS);
        wakeWatcher = () => { clearTimeout(timer); resolve(); };
      });
      if (!watching || supervisor.isEnding || !allRegistered) continue;
      const { live, snapshot } = await collectStates();
      if (!watching || supervisor.isEnding) return;
      if (detector.observe(live, snapshot, live.length === np)) {
        say(`tsmpirun: deadlock: every rank is blocked in communication and no message is in flight:\n${describeSnapshot(live, snapshot)}`);
        supervisor.end(DEADLOCK_EXIT_STATUS, 'deadlock detected (--no-deadlock-detection turns this check off)');
        return;
      }
    }
  };
  const watcher = watchForDeadlock();

  await Promise.all(exits);
  watching = false;
  wakeWatcher();
  await Promise.all(outputs);
  await watcher;
  if (timeout) clearTimeout(timeout);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  process.off('SIGHUP', onSignal);
  process.stdin.unpipe();
  process.stdin.destroy();
  control.close();
  return supervisor.exitStatus;
}
