// One job, start to end: a private directory and secret, the script bundled once, the control
// server, the ranks spawned, their output forwarded, their exits supervised, and everything the job
// made removed again. Resolves with the job's exit status.
//
// Where ranks run (planJob): here; on other hosts (--host/--hostfile: spawn/remote.ts, over ssh or the
// launch agent, everyone on TCP over the interface that reaches those hosts); as the tasks of an srun
// step inside a Slurm allocation (spawn/slurm.ts). Ranks elsewhere run under the rank agent
// (spawn/agent.ts), which gives the job the same handle on them as on a local child. tsmpirun started
// as a task of a PMI launcher is itself one rank (spawn/pmi-task.ts).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { ControlServer } from './control/server.js';
import { ObserveCollector } from './observe.js';
import type { LaunchOptions } from './options.js';
import { AddressError, chooseLauncherAddress, isLocalHost, placeRanks, totalSlots } from './hosts.js';
import { bootstrapBytes, type AgentHeader } from './spawn/agent-protocol.js';
import { withReducedExtraCaCerts } from './spawn/ca-certs.js';
import { spawnLocalRank } from './spawn/local.js';
import { spawnThreadHost, usableCores } from './spawn/threads.js';
import { isPmiTask, runAsPmiTask } from './spawn/pmi-task.js';
import type { RankHandle } from './spawn/rank.js';
import { DEFAULT_LAUNCH_AGENT, spawnRemoteRank, spawnRemoteThreads, splitLaunchAgent } from './spawn/remote.js';
import { inSlurmAllocation, slurmNodeNames, slurmSingleNode, slurmTaskCount, startSlurmStep, type SlurmStep } from './spawn/slurm.js';
import { RankOutput, outputFilePath } from './stdio.js';
import { DEADLOCK_EXIT_STATUS, Supervisor, TIMEOUT_EXIT_STATUS, signalNumber } from './supervise.js';
import { DEADLOCK_POLL_MS, DeadlockDetector, StateRequests, describeSnapshot, findCallConflicts, type Snapshot } from './hangs.js';
import { ScriptCompileError, bundleScript } from './transform.js';

/** How long to wait for a failed rank's last control messages (its abort reason) before judging it. */
const LAST_WORDS_WAIT_MS = 200;
/**
 * A rank that failed only because a peer vanished (its error is TSMPI_ERR_PEER_LOST) is judged this much
 * later, so that the peer's own failure decides the job's status: a remote rank's exit status comes
 * through ssh (or srun's channel) after the peer's sockets have already closed at the other ranks.
 */
const SECONDARY_FAILURE_WAIT_MS = 1000;

/**
 * How long tsmpirun waits, once every rank has ended and its output is read, for the processes that
 * hosted rank threads to end. They end at once; the bound only keeps a host stuck in its teardown from
 * holding the job open: past it, the host is killed.
 */
const HOST_EXIT_WAIT_MS = 5000;

export class UsageError extends Error {}

/**
 * Waits until the processes behind the ranks are reaped (see RankHandle.processGone), at most
 * HOST_EXIT_WAIT_MS: `time tsmpirun …` then counts the CPU time of rank threads, as it does for rank processes.
 */
async function processesGone(ranks: readonly RankHandle[]): Promise<void> {
  const pending = new Set<RankHandle>();
  for (const rank of ranks) {
    if (!rank.processGone) continue;
    pending.add(rank);
    void rank.processGone.then(() => pending.delete(rank));
  }
  if (pending.size === 0) return;
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<void>((resolve) => { timer = setTimeout(resolve, HOST_EXIT_WAIT_MS); });
  await Promise.race([Promise.all([...pending].map((rank) => rank.processGone)), bound]);
  clearTimeout(timer);
  for (const rank of pending) rank.kill('SIGKILL');
}

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

/** Where a job's ranks run, decided before anything is started. */
interface JobPlan {
  np: number;
  /** Per rank: undefined to start it here, else the host to reach through ssh or the launch agent. */
  hosts: (string | undefined)[];
  /** Ranks are the tasks of one srun step (inside a Slurm allocation). */
  slurm: boolean;
  /** The address of the control server (and of local ranks' TCP listeners when `tcp`). */
  address: string;
  /** Ranks talk TCP (some run on other hosts); otherwise Unix sockets in the job directory. */
  tcp: boolean;
}

function localPlan(np: number): JobPlan {
  return { np, hosts: new Array<undefined>(np).fill(undefined), slurm: false, address: '127.0.0.1', tcp: false };
}

/**
 * Hosts given: by-slot placement (hosts.ts), ranks on this machine started here, the others over ssh,
 * everyone on TCP over the interface that reaches the other hosts. Inside a Slurm allocation (and no
 * hosts): an srun step, -np defaulting to the allocation's task count. Otherwise: local ranks.
 */
async function planJob(options: LaunchOptions, env: NodeJS.ProcessEnv): Promise<JobPlan> {
  if (options.hosts) {
    const slots = totalSlots(options.hosts);
    const np = options.np ?? slots;
    if (np > slots && !options.oversubscribe) {
      throw new UsageError(`${np} ranks requested but the hosts have ${slots} slots (use --oversubscribe to allow more ranks than slots)`);
    }
    const placed = placeRanks(options.hosts, np);
    const local = new Map<string, boolean>();
    for (const host of new Set(placed)) local.set(host, await isLocalHost(host));
    const remote = [...local].filter(([, isLocal]) => !isLocal).map(([host]) => host);
    if (remote.length === 0) return localPlan(np);
    let address: string;
    try {
      address = await chooseLauncherAddress(remote, env);
    } catch (e) {
      if (e instanceof AddressError) throw new UsageError(e.message);
      throw e;
    }
    return { np, hosts: placed.map((h) => (local.get(h) ? undefined : h)), slurm: false, address, tcp: true };
  }
  if (inSlurmAllocation(env)) {
    const tasks = slurmTaskCount(env)!;
    const np = options.np ?? tasks;
    if (np > tasks && !options.oversubscribe) {
      throw new UsageError(`${np} ranks requested but the Slurm allocation has ${tasks} tasks (use --oversubscribe to allow more ranks than tasks)`);
    }
    const plan: JobPlan = { ...localPlan(np), slurm: true };
    if (slurmSingleNode(env)) return plan;
    const others: string[] = [];
    for (const node of await slurmNodeNames(env)) if (!(await isLocalHost(node))) others.push(node);
    if (others.length === 0) return plan;
    try {
      return { ...plan, address: await chooseLauncherAddress(others, env), tcp: true };
    } catch (e) {
      if (e instanceof AddressError) throw new UsageError(e.message);
      throw e;
    }
  }
  const stepTasks = Number(env.SLURM_STEP_NUM_TASKS ?? env.SLURM_NTASKS);
  if (env.SLURM_STEP_ID !== undefined && stepTasks > 1 && options.np === undefined) {
    // `srun -n 4 tsmpirun prog.ts` without PMI would run four separate jobs of N ranks each.
    throw new UsageError(`tsmpirun is one of ${stepTasks} tasks of an srun step without PMI: run srun --mpi=pmi2 … tsmpirun prog.ts `
      + '(each task is then one rank), or run tsmpirun itself inside the allocation, without srun');
  }
  return localPlan(options.np ?? availableParallelism());
}

export async function runJob(options: LaunchOptions): Promise<number> {
  // Started as a task of srun --mpi=pmi2 or mpiexec: this process is one rank of the PMI job.
  if (isPmiTask(process.env) && options.np === undefined && options.hosts === undefined) return runAsPmiTask(options, say);
  const plan = await planJob(options, process.env);
  const jobDir = mkdtempSync(join(tmpdir(), 'tsmpi-'));
  const reaper = startJobDirReaper(jobDir);
  let removeJobDir = () => {
    rmSync(jobDir, { recursive: true, force: true });
    // The reaper leads its own process group (detached): end the shell and its cat together.
    try { if (reaper.pid) process.kill(-reaper.pid, 'SIGKILL'); } catch { /* already gone */ }
  };
  try {
    let bundle: string;
    try {
      bundle = await bundleScript(options.script, jobDir);
    } catch (e) {
      if (e instanceof ScriptCompileError) {
        say(`tsmpirun: cannot compile ${options.script}:\n${e.details}`);
        return 1;
      }
      throw e;
    }
    const secret = randomBytes(32);
    return await runRanks(options, plan, jobDir, bundle, secret);
  } finally {
    removeJobDir();
    removeJobDir = () => {};
  }
}

async function runRanks(options: LaunchOptions, plan: JobPlan, jobDir: string, bundle: string, secret: Buffer): Promise<number> {
  const np = plan.np;
  const children: RankHandle[] = [];
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
  /** Ranks whose failure was caused by another rank's (see SECONDARY_FAILURE_WAIT_MS). */
  const secondaryFailures = new Set<number>();

  const observe = new ObserveCollector(options.observe, np, options.script);
  const stateRequests = new StateRequests((id) => control.broadcast({ t: 'report-state', id }));
  /** Ranks whose program is done (their finalize fence), or that exited with 0 without one. */
  const finished = new Set<number>();
  const rankFinished = (rank: number, told: readonly number[]) => {
    if (finished.has(rank)) return;
    finished.add(rank);
    for (let r = 0; r < np; r++) if (r !== rank) control.sendTo(r, { t: 'peer-finished', rank, fin: told.includes(r) });
    if (finished.size === np) control.broadcast({ t: 'all-finished' });
  };
  /** A rank said it fails (over the control plane, or a rank thread through its host), and why. */
  function rankAborted(rank: number, code: number, message: string): void {
    const judge = () => {
      if (supervisor.rankAborted(rank, code, message)) notifyPeerLost(rank, message);
    };
    if (!message.includes('TSMPI_ERR_PEER_LOST')) return judge();
    secondaryFailures.add(rank);
    setTimeout(judge, SECONDARY_FAILURE_WAIT_MS);
  }
  const control = await ControlServer.start(secret, np, plan.address, {
    onRegistered: () => { allRegistered = ++registeredCount === np; },
    onFinished: rankFinished,
    onAbort: rankAborted,
    onState: (rank, id, state) => stateRequests.answered(rank, id, state),
    onDisconnected: (rank) => stateRequests.disconnected(rank),
    onObserve: (rank, part) => observe.add(rank, part),
  });

  function notifyPeerLost(rank: number, reason: string): void {
    for (let r = 0; r < np; r++) if (r !== rank) control.sendTo(r, { t: 'peer-lost', rank, reason });
  }

  /** Asks every live rank for its state; ranks that do not answer in time are left out. */
  async function collectStates(): Promise<{ live: number[]; snapshot: Snapshot }> {
    const live = [...supervisor.liveRanks].sort((x, y) => x - y);
    const snapshot = await stateRequests.collect(live.filter((rank) => control.isConnected(rank)));
    return { live, snapshot };
  }

  const transportEnv: Record<string, string> = plan.tcp ? { TSMPI_TRANSPORT: 'tcp' } : {};
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...options.env,
    TSMPI_CONTROL: control.url,
    TSMPI_SIZE: String(np),
    TSMPI_JOB_DIR: jobDir,
    TSMPI_SCRIPT: options.script,
    ...transportEnv,
    ...(plan.tcp ? { TSMPI_TCP_HOST: plan.address } : {}),
    ...observe.rankEnv(),
  };
  // A tsmpirun started inside a PMI task: its ranks join through tsmpirun, not through that PMI job.
  for (const name of Object.keys(env)) if (name.startsWith('PMI_')) delete env[name];
  const nodeArgv = ['--enable-source-maps', ...options.nodeArgs, bundle, ...options.scriptArgs];
  const outputs: Promise<void>[] = [];
  const exits: Promise<void>[] = [];

  // Ranks elsewhere get the bundle and their settings from tsmpirun (agent-protocol.ts): the TSMPI_*
  // settings of tsmpirun's environment (ssh does not carry it; srun does), -x variables, the job's own.
  const launchesElsewhere = plan.slurm || plan.hosts.some((h) => h !== undefined);
  const bundleBytes = launchesElsewhere ? readFileSync(bundle) : Buffer.alloc(0);
  const notForwarded = new Set(['TSMPI_TCP_HOST', 'TSMPI_LAUNCHER_ADDRESS', 'TSMPI_JOB_DIR', 'TSMPI_RANK', 'TSMPI_SECRET_FD']);
  const agentHeader = (rank: number | undefined): Omit<AgentHeader, 'channel'> => ({
    v: 1,
    ...(rank === undefined ? {} : { rank }),
    env: {
      ...(plan.slurm ? {} : Object.fromEntries(Object.entries(process.env)
        .filter((e): e is [string, string] => e[0].startsWith('TSMPI_') && !notForwarded.has(e[0]) && e[1] !== undefined))),
      ...options.env,
      TSMPI_CONTROL: control.url,
      TSMPI_SIZE: String(np),
      TSMPI_SCRIPT: options.script,
      ...transportEnv,
      ...observe.rankEnv(),
    },
    nodeArgs: options.nodeArgs,
    scriptArgs: options.scriptArgs,
    bundleBytes: bundleBytes.length,
    bundleFile: basename(bundle),
    stdinRank: 0,
    ...(plan.tcp ? { routeTo: plan.address } : {}),
    ...(plan.slurm ? { jobDir } : {}),
  });
  const agent = options.launchAgent === undefined ? DEFAULT_LAUNCH_AGENT : splitLaunchAgent(options.launchAgent);
  let step: SlurmStep | undefined;
  if (plan.slurm) {
    step = await startSlurmStep({
      np, oversubscribe: options.oversubscribe, secret, header: agentHeader(undefined), bundle: bundleBytes, channelHost: plan.address, say,
    });
  }

  let localEnv: NodeJS.ProcessEnv | undefined;
  // Ranks as threads: every local rank is a thread of one process.
  const localRanks = plan.hosts.flatMap((h, rank) => (h === undefined && !step ? [rank] : []));
  const threads = options.ranks === 'threads' && !step
    ? new Map(localRanks.length === 0 ? [] : spawnThreadHost({
      ranks: localRanks, bundle, scriptArgs: options.scriptArgs, env: (localEnv ??= withReducedExtraCaCerts(env, options.nodeArgs)),
      nodeArgs: ['--enable-source-maps', ...options.nodeArgs], secret, stdinRank: localRanks.includes(0) ? 0 : undefined,
      spin: localRanks.length <= usableCores(),
    }).map((handle, i) => [localRanks[i]!, handle]))
    : undefined;
  // And on every other host, the ranks placed there are threads of one process started by one agent.
  if (threads && !step) {
    const byHost = new Map<string, number[]>();
    plan.hosts.forEach((h, rank) => { if (h !== undefined) byHost.set(h, [...(byHost.get(h) ?? []), rank]); });
    for (const [host, ranks] of byHost) {
      const header = { ...agentHeader(undefined), ranks, channel: { kind: 'stdio' as const } };
      spawnRemoteThreads({
        ranks, host, agent, bootstrap: bootstrapBytes(secret, header), bundle: bundleBytes, stdinRank: ranks.includes(0) ? 0 : undefined,
      }).forEach((handle, i) => threads.set(ranks[i]!, handle));
    }
  }
  for (let rank = 0; rank < np; rank++) {
    const host = plan.hosts[rank];
    const child: RankHandle = step
      ? step.ranks[rank]!
      : threads?.has(rank)
        ? threads.get(rank)!
        : host === undefined
        ? spawnLocalRank({ rank, nodeArgv, env: { ...(localEnv ??= withReducedExtraCaCerts(env, options.nodeArgs)), TSMPI_RANK: String(rank) }, secret, withStdin: rank === 0 })
        : spawnRemoteRank({
          rank, host, agent, withStdin: rank === 0, bundle: bundleBytes,
          bootstrap: bootstrapBytes(secret, { ...agentHeader(rank), channel: { kind: 'stdio' } }),
        });
    children.push(child);
    child.on('abort', (code, what) => rankAborted(rank, code, what));
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
        if (!failed) rankFinished(rank, []);
        const judge = () => {
          if (supervisor.rankExited(rank, code, signal)) notifyPeerLost(rank, signal ? `was killed by ${signal}` : `exited with code ${code}`);
          resolve();
        };
        // A failing rank's abort message may still be in flight: read it before judging the exit.
        if (failed && !supervisor.isEnding) {
          void control.whenDisconnected(rank, LAST_WORDS_WAIT_MS).then(() => {
            if (secondaryFailures.has(rank) && !supervisor.isEnding) setTimeout(judge, SECONDARY_FAILURE_WAIT_MS);
            else judge();
          });
        } else judge();
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
  /** Collective calls (context:tag) whose ranks were already told of a conflict. */
  const conflictsTold = new Set<string>();
  const watchForDeadlock = async () => {
    while (watching && !supervisor.isEnding) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, DEADLOCK_POLL_MS);
        wakeWatcher = () => { clearTimeout(timer); resolve(); };
      });
      if (!watching || supervisor.isEnding || !allRegistered) continue;
      const { live, snapshot } = await collectStates();
      if (!watching || supervisor.isEnding) return;
      // Ranks in the same collective call with different calls or roots: each fails it as a mismatch.
      const conflicts = findCallConflicts(snapshot).filter((c) => !conflictsTold.has(`${c.ctx}:${c.tag}`));
      for (const conflict of conflicts) {
        conflictsTold.add(`${conflict.ctx}:${conflict.tag}`);
        for (const mine of conflict.calls) {
          const other = conflict.calls.find((c) => c.op !== mine.op || c.root !== mine.root)!;
          control.sendTo(mine.rank, { t: 'call-conflict', ctx: conflict.ctx, tag: conflict.tag, rank: other.rank, op: other.op, root: other.root });
        }
      }
      if (conflicts.length > 0) continue;
      if (detector.observe(live, snapshot, live.length === np)) {
        say(`tsmpirun: deadlock: every rank is blocked in communication and no message is in flight:\n${describeSnapshot(live, snapshot)}`);
        supervisor.end(DEADLOCK_EXIT_STATUS, 'deadlock detected (--no-deadlock-detection turns this check off)');
        return;
      }
    }
  };
  const watcher = watchForDeadlock();

  await Promise.all(exits);
  await step?.finished;
  watching = false;
  wakeWatcher();
  await Promise.all(outputs);
  await processesGone(children);
  await watcher;
  if (timeout) clearTimeout(timeout);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  process.off('SIGHUP', onSignal);
  process.stdin.unpipe();
  process.stdin.destroy();
  control.close();
  await observe.write(supervisor.exitStatus, say);
  supervisor.summarize();
  return supervisor.exitStatus;
}
