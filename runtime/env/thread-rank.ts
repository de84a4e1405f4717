// A rank that runs as a thread of a host process (tsmpirun --ranks threads; launcher/spawn/thread-host.ts):
// what the host hands it (workerData), and what a thread must do to behave as a rank process does.
//  - Output: a worker's process.stdout and stderr are streams relayed by the host's event loop, so a
//    rank that spins or blocks would emit only its first line until it yields (nodejs/node#53701), and
//    lines still buffered are lost when the process ends. A rank thread writes to pipes of its own
//    instead (one per stream, passed by tsmpirun to the host), synchronously, as a rank process writes
//    to its pipes on Linux.
//    Writes to file descriptors 1 and 2 themselves (fs.writeSync(1, …)) go to those pipes too: the
//    process's descriptors 1 and 2 are shared by all its threads.
//  - Input: a worker's process.stdin is fed by its host's event loop and keeps the thread alive until
//    the host ends it, even after the program destroyed it. The rank that reads tsmpirun's stdin reads
//    the process's descriptor 0 itself, as a rank process does; the others get an empty stream.
//  - process.chdir() does not exist in workers: a clear error says why and what to do.
//  - process.exit(n) ends the thread, with status n for its rank; process.env is the rank's own copy.
import fs, { writeSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import net from 'node:net';
import { Readable } from 'node:stream';
import tty from 'node:tty';
import { workerData, type MessagePort } from 'node:worker_threads';
import { tsmpiError } from '../errors.js';
import type { ArenaInit } from '../transport/shm-arena.js';

/** What the host gives each rank thread (workerData). */
export interface ThreadRankData {
  tsmpiThread: {
    secret: Uint8Array;
    arena: ArenaInit;
    /** Spin while waiting: the host's rank threads fit its cores. */
    spin: boolean;
    stdoutFd: number;
    stderrFd: number;
    /** This rank reads the process's stdin (tsmpirun's, for rank 0). */
    stdin: boolean;
    /** To the host's main thread: asks for a port of its own to another rank thread (shm-channel.ts). */
    hostPort: MessagePort;
    /** The host's status pipe to tsmpirun (one JSON line per report), shared by its threads. */
    statusFd: number;
  };
}

/**
 * Tells tsmpirun, through the host's status pipe, why this rank thread is about to exit, ahead of the
 * exit status the host reports after it. The control connection says it too, but a rank thread's
 * socket is closed with the thread, and one closed with unread bytes (a peer-finished notice) is reset,
 * which can lose what the rank sent last; a pipe loses nothing. One write of less than PIPE_BUF bytes,
 * so lines of threads that fail at once do not interleave.
 */
export function tellHostWhyExiting(data: ThreadRankData['tsmpiThread'], rank: number, code: number, what: string): void {
  const line = `${JSON.stringify({ rank, abort: code, what: what.slice(0, 2048) })}\n`;
  try {
    writeAllSync(data.statusFd, Buffer.from(line));
  } catch {
    // The host is gone: the control connection still carries the abort.
  }
}

/** This thread's rank data, when it is a rank thread. */
export function threadRank(): ThreadRankData['tsmpiThread'] | undefined {
  return (workerData as Partial<ThreadRankData> | null)?.tsmpiThread;
}

/** Where the rank's error reports go: its own stderr pipe in a rank thread, else fd 2. */
export let rankStderrFd = 2;

/** Writes all of `chunk` to `fd`, waiting out a full non-blocking pipe. */
export function writeAllSync(fd: number, chunk: Uint8Array): void {
  for (let at = 0; at < chunk.length;) {
    try {
      at += writeSync(fd, chunk, at);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') return;
      Atomics.wait(PAUSE, 0, 0, 1);
    }
  }
}

const PAUSE = new Int32Array(new SharedArrayBuffer(4));

/** Makes this thread write its output to its own pipes, synchronously, and guards what workers lack. */
export function becomeRankThread(data: ThreadRankData['tsmpiThread']): void {
  rankStderrFd = data.stderrFd;
  redirect(process.stdout, data.stdoutFd);
  redirect(process.stderr, data.stderrFd);
  redirectDescriptors(data.stdoutFd, data.stderrFd);
  let stdin: NodeJS.ReadStream | undefined;
  Object.defineProperty(process, 'stdin', {
    configurable: true,
    get: () => (stdin ??= data.stdin ? streamOnDescriptor0() : (Readable.from([]) as unknown as NodeJS.ReadStream)),
  });
  process.chdir = () => {
    throw tsmpiError('TSMPI_ERR_ARG', 'process.chdir() is not available to a rank running as a thread (tsmpirun --ranks threads): '
      + 'the working directory belongs to the whole process. Pass paths relative to a directory of your own, or run with --ranks processes');
  };
}

/** A readable stream on the process's descriptor 0, of the kind Node makes for a main thread's stdin. */
function streamOnDescriptor0(): NodeJS.ReadStream {
  let stream: NodeJS.ReadStream;
  const stat = fs.fstatSync(0);
  if (tty.isatty(0)) stream = new tty.ReadStream(0);
  else if (stat.isFile()) stream = fs.createReadStream('', { fd: 0, autoClose: false }) as unknown as NodeJS.ReadStream;
  else stream = new net.Socket({ fd: 0, readable: true, writable: false }) as unknown as NodeJS.ReadStream;
  Object.defineProperty(stream, 'fd', { value: 0, configurable: true });
  return stream;
}

/** fs's writes to descriptor 1 or 2 go to the rank's pipes (ES module imports of node:fs included). */
function redirectDescriptors(stdoutFd: number, stderrFd: number): void {
  const own = (fd: unknown) => (fd === 1 ? stdoutFd : fd === 2 ? stderrFd : fd);
  const mutableFs = fs as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const name of ['writeSync', 'write', 'writeFileSync', 'appendFileSync', 'fsyncSync']) {
    const original = mutableFs[name]!;
    mutableFs[name] = function (this: unknown, fd: unknown, ...rest: unknown[]) {
      return original.call(this, own(fd), ...rest);
    };
  }
  syncBuiltinESMExports();
}

function redirect(stream: NodeJS.WriteStream, fd: number): void {
  Object.defineProperty(stream, 'fd', { value: fd, configurable: true });
  stream.write = ((chunk: string | Uint8Array, encoding?: BufferEncoding | ((e?: Error | null) => void), callback?: (e?: Error | null) => void) => {
    if (typeof encoding === 'function') {
      callback = encoding;
      encoding = undefined;
    }
    writeAllSync(fd, typeof chunk === 'string' ? Buffer.from(chunk, encoding ?? 'utf8') : chunk);
    if (callback) process.nextTick(callback);
    return true;
  }) as typeof stream.write;
}
