// The process that runs a host's ranks as threads (tsmpirun --ranks threads): one worker_thread per
// rank, each loading the job's bundle as a rank process would, all sharing one arena of memory
// (runtime/transport/shm-arena.ts) through which they talk. Started by tsmpirun (spawn/threads.ts)
// with the job secret on fd 3 and, for every rank, its own stdout and stderr pipes (fds 5 + 2i and
// 6 + 2i for the i-th rank of this host), so that tsmpirun sees each rank's output as it sees a rank
// process's, line by line: a rank writes to them synchronously (runtime/env/thread-rank.ts), so a rank
// that spins or blocks never holds its output back, and nothing is lost when a rank or the process
// ends. On fd 4 it reports one JSON line per rank that ends: {"rank":R,"code":C} (and "oom":true when
// the rank ran out of memory); before it, a rank that fails or aborts writes its own last words there,
// {"rank":R,"abort":C,"what":"threw an uncaught …"} (runtime/env/thread-rank.ts). Its own stdout and stderr are tsmpirun's.
//
//   node thread-host.js '{"ranks":[0,1],"bundle":"/…/main.cjs","argv":[…],"env":{…},"spin":true,…}'
import { readFileSync, closeSync, writeSync } from 'node:fs';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { writeAllSync as writeAll, type ThreadRankData } from '../../runtime/env/thread-rank.js';
import { createArena } from '../../runtime/transport/shm-arena.js';
import { FIRST_OUTPUT_FD, SECRET_FD, STATUS_FD, type ThreadHostSpec } from './thread-host-spec.js';

function report(line: object): void {
  writeSync(STATUS_FD, `${JSON.stringify(line)}\n`);
}

function main(): void {
  const spec = JSON.parse(process.argv[2] ?? '') as ThreadHostSpec;
  const secret = readFileSync(SECRET_FD);
  closeSync(SECRET_FD);
  const arena = createArena(spec.ranks);
  const hostPorts: MessagePort[] = [];
  spec.ranks.forEach((rank, i) => {
    const stdoutFd = FIRST_OUTPUT_FD + 2 * i, stderrFd = stdoutFd + 1;
    const { port1: hostPort, port2: rankPort } = new MessageChannel();
    hostPorts.push(hostPort);
    hostPort.on('message', (m: { t?: string; to?: unknown }) => {
      if (m.t === 'connect' && typeof m.to === 'number') connectPair(hostPorts, i, m.to);
    });
    hostPort.unref();
    const data: ThreadRankData = {
      tsmpiThread: { secret, arena, spin: spec.spin, stdoutFd, stderrFd, stdin: rank === spec.stdinRank, hostPort: rankPort, statusFd: STATUS_FD },
    };
    const worker = new Worker(spec.bundle, {
      // The thread's title in a debugger (--node-arg=--inspect): "[worker N] rank R".
      name: `rank ${rank}`,
      argv: spec.argv,
      env: { ...spec.env, TSMPI_RANK: String(rank) },
      workerData: data,
      transferList: [rankPort],
      resourceLimits: spec.resourceLimits,
      // Output the rank writes before its runtime has taken over its stdio (modules of the program
      // that run before tsmpi's) comes here; it goes to the rank's own pipes too.
      stdout: true,
      stderr: true,
    });
    worker.stdout.on('data', (chunk: Buffer) => writeAll(stdoutFd, chunk));
    worker.stderr.on('data', (chunk: Buffer) => writeAll(stderrFd, chunk));
    let outOfMemory = false;
    worker.on('error', (error: Error & { code?: string }) => {
      // An error that escaped the rank's own handlers (it failed before the runtime installed them).
      outOfMemory = error.code === 'ERR_WORKER_OUT_OF_MEMORY';
      const text = outOfMemory
        ? `[rank ${rank}] ran out of memory (JavaScript heap): ${error.message}\n`
        : `[rank ${rank}] uncaught exception: ${error.stack ?? error.message}\n`;
      writeAll(stderrFd, Buffer.from(text));
    });
    worker.on('exit', (code) => {
      report({ rank, code: outOfMemory ? 134 : code, ...(outOfMemory ? { oom: true } : {}) });
    });
  });
}

/**
 * Rank thread `from` (a local index) wants a port of its own to `to`, to hand it shared buffers
 * (runtime/transport/shm-channel.ts): a new channel, one end to each. The other end goes first, so that
 * by the time `from` can use its end, the other one is already waiting for `to`.
 */
function connectPair(hostPorts: readonly MessagePort[], from: number, to: number): void {
  if (to < 0 || to >= hostPorts.length || to === from) return;
  const { port1, port2 } = new MessageChannel();
  hostPorts[to]!.postMessage({ t: 'port', peer: from, port: port2 }, [port2]);
  hostPorts[from]!.postMessage({ t: 'port', peer: to, port: port1 }, [port1]);
}

main();
