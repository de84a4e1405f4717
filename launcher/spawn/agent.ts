// The rank agent: what tsmpirun starts on another host (through ssh or a launch agent) and in every srun
// task. It reads the job secret, a header and the job's bundle from its stdin (agent-protocol.ts), writes
// the bundle into a private 0700 directory, starts the rank with the secret on a pipe (fd 3), and then
// stands between the rank and tsmpirun:
//  - the rank's output and exit status go back to tsmpirun: over the agent's own stdout, stderr and exit
//    status under ssh (ssh carries them separately), over a TCP channel under srun;
//  - tsmpirun's frames (stdin for rank 0, signals) go to the rank;
//  - when tsmpirun is gone — end of file on stdin (pdeathsig does not cross ssh), the TCP channel closed,
//    or a signal to the agent — the rank is killed and the directory removed, so nothing is left behind.
// The rank itself runs under setpriv --pdeathsig KILL where available: if the agent dies, so does the rank.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { localAddressToward } from '../../runtime/transport/addresses.js';
import {
  FrameKind, FrameReader, JOB_BUNDLE_FILES, MAX_HEADER_LINE_BYTES, NONCE_BYTES, agentProof, encodeFrame, outputFrames, rankFrame,
  rankOutputFrames, type AgentHeader,
} from './agent-protocol.js';
import { spawnLocalRank } from './local.js';
import { spawnThreadHost, usableCores } from './threads.js';

/** Signals tsmpirun may forward to a rank. */
const FORWARDED_SIGNALS = new Set(['SIGTERM', 'SIGKILL', 'SIGINT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGQUIT', 'SIGCONT', 'SIGSTOP']);
/** How long a TCP channel may take to deliver the last frames before the agent exits anyway. */
const CHANNEL_DRAIN_MS = 2000;

/** What the agent started: the rank's process, or the process of its rank threads. */
interface Started {
  readonly stdin: NodeJS.WritableStream | null;
  kill(signal: NodeJS.Signals): void;
  readonly running: boolean;
}

let rankProcess: Started | undefined;
let privateDir: string | undefined;
let reaper: ChildProcess | undefined;
let channel: net.Socket | undefined;
let ending = false;

function say(message: string): void {
  try {
    process.stderr.write(`tsmpi agent${process.env.SLURM_PROCID !== undefined ? ` (task ${process.env.SLURM_PROCID})` : ''}: ${message}\n`);
  } catch {
    // stderr gone
  }
}

function cleanup(): void {
  if (privateDir) rmSync(privateDir, { recursive: true, force: true });
  privateDir = undefined;
  // The reaper leads its own process group (detached): end the shell and its cat together.
  try { if (reaper?.pid) process.kill(-reaper.pid, 'SIGKILL'); } catch { /* gone */ }
  reaper = undefined;
}

/** tsmpirun is gone or wants us gone: kill the rank, remove what we made, exit. */
function abandon(_why: string, status: number): void {
  if (ending) return;
  ending = true;
  if (rankProcess?.running) {
    try { rankProcess.kill('SIGKILL'); } catch { /* gone */ }
  }
  cleanup();
  process.exit(status);
}

process.on('SIGTERM', () => abandon('SIGTERM', 143));
process.on('SIGINT', () => abandon('SIGINT', 130));
process.on('SIGHUP', () => abandon('SIGHUP', 129));
process.stdout.on('error', () => {});
process.stderr.on('error', () => {});

// ---------------------------------------------------------------------------------------------------
// stdin: secret line, header line, bundle, then frames (ssh) or nothing (srun)

let phase: 'secret' | 'header' | 'bundle' | 'frames' | 'idle' = 'secret';
let pending: Buffer = Buffer.alloc(0);
let secret: Buffer | undefined;
let header: AgentHeader | undefined;
const bundleParts: Buffer[] = [];
let bundleHave = 0;
const earlyFrames: [number, Buffer][] = [];
const frames = new FrameReader((kind, payload) => {
  if (rankProcess) onDownFrame(kind, payload);
  else earlyFrames.push([kind, Buffer.from(payload)]);
});

function takeLine(): string | undefined {
  const newline = pending.indexOf(10);
  if (newline < 0) {
    if (pending.length > MAX_HEADER_LINE_BYTES) abandon('bootstrap line too long', 2);
    return undefined;
  }
  const line = pending.subarray(0, newline).toString('utf8');
  pending = pending.subarray(newline + 1);
  return line;
}

function onStdin(chunk: Buffer): void {
  if (phase === 'frames') {
    try {
      frames.push(chunk);
    } catch (e) {
      say(`bad frame from tsmpirun: ${(e as Error).message}`);
      abandon('bad frame', 2);
    }
    return;
  }
  if (phase === 'idle') return;
  pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
  if (phase === 'secret') {
    const line = takeLine();
    if (line === undefined) return;
    if (!/^[0-9a-f]{32,}$/.test(line)) abandon('no job secret on stdin', 2);
    secret = Buffer.from(line, 'hex');
    phase = 'header';
  }
  if (phase === 'header') {
    const line = takeLine();
    if (line === undefined) return;
    try {
      header = JSON.parse(line) as AgentHeader;
      if (header.v !== 1 || !Number.isSafeInteger(header.bundleBytes)) throw new Error('unknown header version');
      if (!(Object.values(JOB_BUNDLE_FILES) as string[]).includes(header.bundleFile)) throw new Error(`bundle file name ${JSON.stringify(header.bundleFile)}`);
    } catch (e) {
      say(`bad header from tsmpirun: ${(e as Error).message}`);
      abandon('bad header', 2);
      return;
    }
    phase = 'bundle';
  }
  if (phase === 'bundle') {
    const take = Math.min(pending.length, header!.bundleBytes - bundleHave);
    bundleParts.push(Buffer.from(pending.subarray(0, take)));
    bundleHave += take;
    pending = pending.subarray(take);
    if (bundleHave < header!.bundleBytes) return;
    const rest = pending;
    pending = Buffer.alloc(0);
    phase = header!.channel.kind === 'stdio' ? 'frames' : 'idle';
    if (phase === 'frames' && rest.length > 0) onStdin(rest);
    start(header!, secret!, Buffer.concat(bundleParts)).catch((e: unknown) => {
      say(`cannot start the rank: ${(e as Error).message}`);
      abandon('start failed', 1);
    });
  }
}

process.stdin.on('data', onStdin);
process.stdin.on('end', () => abandon('end of stdin: tsmpirun is gone', 1));
process.stdin.on('error', () => abandon('stdin error', 1));

// ---------------------------------------------------------------------------------------------------
// Start-up


function makePrivateDir(h: AgentHeader, rank: number): string {
  // Inside tsmpirun's job directory when it is on this host (srun on tsmpirun's node): tsmpirun then
  // removes it even if this agent is killed outright.
  if (h.jobDir && existsSync(h.jobDir) && statSync(h.jobDir).uid === process.getuid?.()) {
    return mkdtempSync(join(h.jobDir, `rank${rank}-`));
  }
  const dir = mkdtempSync(join(h.env.TMPDIR || process.env.TMPDIR || tmpdir(), 'tsmpi-rank-'));
  // Removes the directory should this agent be SIGKILLed: a detached shell waiting for the end of a
  // pipe only this agent holds.
  reaper = spawn('/bin/sh', ['-c', 'cat >/dev/null; rm -rf -- "$0"', dir], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
  reaper.on('error', () => {});
  reaper.unref();
  (reaper.stdin as unknown as { unref?(): void } | null)?.unref?.();
  return dir;
}

/** Connects back to tsmpirun and proves the secret; resolves with the socket and any bytes read past the nonce. */
function openChannel(host: string, port: number, key: Buffer, rank: number): Promise<[net.Socket, Buffer]> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, noDelay: true });
    let got = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      if (got.length < NONCE_BYTES) return;
      socket.off('data', onData);
      socket.off('error', reject);
      socket.on('error', () => {}); // a failure shows as 'close', handled by the caller
      socket.write(agentProof(key, got.subarray(0, NONCE_BYTES), rank));
      socket.removeAllListeners('close');
      resolve([socket, Buffer.from(got.subarray(NONCE_BYTES))]);
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.once('close', () => reject(new Error(`tsmpirun at ${host}:${port} closed the channel`)));
  });
}

function up(kind: typeof FrameKind.Stdout | typeof FrameKind.Stderr, chunk: Buffer): void {
  if (channel) {
    for (const f of outputFrames(kind, chunk)) channel.write(f);
  } else {
    (kind === FrameKind.Stdout ? process.stdout : process.stderr).write(chunk);
  }
}

function onDownFrame(kind: number, payload: Buffer): void {
  const child = rankProcess!;
  switch (kind) {
    case FrameKind.Stdin:
      child.stdin?.write(Buffer.from(payload));
      return;
    case FrameKind.StdinEnd:
      child.stdin?.end();
      return;
    case FrameKind.Signal: {
      const name = payload.toString('latin1');
      if (!FORWARDED_SIGNALS.has(name)) return;
      try { child.kill(name as NodeJS.Signals); } catch { /* gone */ }
      return;
    }
    default:
      say(`unknown frame kind ${kind} from tsmpirun`);
  }
}

async function start(h: AgentHeader, key: Buffer, bundle: Buffer): Promise<void> {
  const rank = h.rank ?? h.ranks?.[0] ?? Number(process.env.SLURM_PROCID);
  if (!Number.isSafeInteger(rank) || rank < 0) throw new Error('no rank: the header names none and SLURM_PROCID is unset');
  privateDir = makePrivateDir(h, rank);
  const script = join(privateDir, h.bundleFile);
  writeFileSync(script, bundle, { mode: 0o600 });

  const env: NodeJS.ProcessEnv = { ...process.env, ...h.env, TSMPI_RANK: String(rank), TSMPI_JOB_DIR: privateDir };
  // srun may have set up PMI for the task; this rank joins through tsmpirun's control plane instead.
  for (const name of Object.keys(env)) if (name.startsWith('PMI_')) delete env[name];
  if (env.TSMPI_TRANSPORT === 'tcp' && !env.TSMPI_TCP_HOST) {
    const address = h.routeTo === undefined ? undefined : await localAddressToward(h.routeTo);
    if (address === undefined) throw new Error(`no route from this host to tsmpirun's host ${h.routeTo}`);
    env.TSMPI_TCP_HOST = address;
  }

  if (h.channel.kind === 'tcp') {
    const [socket, early] = await openChannel(h.channel.host, h.channel.port, key, rank);
    channel = socket;
    const reader = new FrameReader((kind, payload) => {
      if (rankProcess) onDownFrame(kind, payload);
      else earlyFrames.push([kind, Buffer.from(payload)]);
    });
    const onData = (chunk: Buffer) => {
      try {
        reader.push(chunk);
      } catch {
        abandon('bad frame on the channel', 2);
      }
    };
    channel.on('data', onData);
    if (early.length > 0) onData(early);
    channel.on('error', () => {});
    channel.on('close', () => abandon('tsmpirun closed the channel', 1));
  }

  if (h.ranks) {
    startThreads(h, h.ranks, key, script, env);
    return;
  }
  const nodeArgv = ['--enable-source-maps', ...h.nodeArgs, script, ...h.scriptArgs];
  // Started as tsmpirun starts a rank on its own host (setpriv, the secret pipe, malloc settings).
  const child = spawnLocalRank({ rank, nodeArgv, env, secret: key, withStdin: rank === h.stdinRank });
  rankProcess = {
    stdin: child.stdin,
    kill: (signal) => child.kill(signal),
    get running() { return child.exitCode === null && child.signalCode === null; },
  };
  child.stdin?.on('error', () => {});
  for (const [kind, payload] of earlyFrames.splice(0)) onDownFrame(kind, payload);

  let open = 2;
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const maybeDone = () => { if (open === 0 && exit) finish(exit.code, exit.signal); };
  child.stdout!.on('data', (chunk: Buffer) => up(FrameKind.Stdout, chunk));
  child.stderr!.on('data', (chunk: Buffer) => up(FrameKind.Stderr, chunk));
  child.stdout!.on('close', () => { open--; maybeDone(); });
  child.stderr!.on('close', () => { open--; maybeDone(); });
  child.on('error', (e) => {
    say(`cannot start node: ${e.message}`);
    exit = { code: 127, signal: null };
    open = 0;
    maybeDone();
  });
  child.on('exit', (code, signal) => { exit = { code, signal }; maybeDone(); });
}

/**
 * Several ranks as threads of one process (as tsmpirun runs its own host's ranks): their output and
 * exit statuses go up this agent's stdout as frames tagged with the rank; a signal ends them all.
 */
function startThreads(h: AgentHeader, ranks: number[], key: Buffer, script: string, env: NodeJS.ProcessEnv): void {
  delete env.TSMPI_RANK;
  const handles = spawnThreadHost({
    ranks, bundle: script, scriptArgs: h.scriptArgs, env, nodeArgs: ['--enable-source-maps', ...h.nodeArgs], secret: key,
    stdinRank: ranks.includes(h.stdinRank) ? h.stdinRank : undefined, spin: ranks.length <= usableCores(),
  });
  let exited = 0;
  rankProcess = {
    stdin: handles[ranks.indexOf(h.stdinRank)]?.stdin ?? null,
    kill: (signal) => handles[0]!.kill(signal),
    get running() { return exited < ranks.length; },
  };
  for (const [kind, payload] of earlyFrames.splice(0)) onDownFrame(kind, payload);
  let open = 2 * ranks.length;
  const maybeDone = () => {
    if (open > 0 || exited < ranks.length || ending) return;
    ending = true;
    cleanup();
    process.stdout.write('', () => process.exit(0));
  };
  handles.forEach((handle, i) => {
    const rank = ranks[i]!;
    const up = (kind: typeof FrameKind.RankStdout | typeof FrameKind.RankStderr) => (chunk: Buffer) => {
      for (const f of rankOutputFrames(kind, rank, chunk)) process.stdout.write(f);
    };
    handle.stdout!.on('data', up(FrameKind.RankStdout));
    handle.stderr!.on('data', up(FrameKind.RankStderr));
    handle.stdout!.on('close', () => { open--; maybeDone(); });
    handle.stderr!.on('close', () => { open--; maybeDone(); });
    handle.on('error', (e: Error) => say(`cannot start the rank threads: ${e.message}`));
    handle.on('exit', (code: number | null, signal: NodeJS.Signals | null) => {
      process.stdout.write(rankFrame(FrameKind.RankExit, rank, Buffer.from(JSON.stringify({ code, signal }))));
      exited++;
      maybeDone();
    });
  });
}

function finish(code: number | null, signal: NodeJS.Signals | null): void {
  if (ending) return;
  ending = true;
  cleanup();
  if (channel) {
    const socket = channel;
    socket.removeAllListeners('close');
    socket.end(encodeFrame(FrameKind.Exit, JSON.stringify({ code, signal })));
    const timer = setTimeout(() => process.exit(0), CHANNEL_DRAIN_MS);
    socket.on('close', () => { clearTimeout(timer); process.exit(0); });
    return;
  }
  const status = signal ? 128 + (constants.signals[signal] ?? 0) : (code ?? 1);
  // ssh carries the status; stdout and stderr are flushed first (writes to pipes complete in order).
  process.stdout.write('', () => process.stderr.write('', () => process.exit(status)));
}
