// A rank that runs as a thread of a host process (tsmpirun --ranks threads; launcher/spawn/thread-host.ts):
// what the host hands it (workerData), and what a thread must do to behave as a rank process does.
//  - Output: a worker's process.stdout and stderr are streams relayed by the host's event loop, so a
//    rank that spins or blocks would emit only its first line until it yields (nodejs/node#53701), and
//    lines still buffered are lost when the process ends. A rank thread writes to pipes of its own
//    instead (one per stream, passed by tsmpirun to the host), synchronously, as a rank process writes
//    to its pipes on Linux.
//  - process.chdir() does not exist in workers: a clear error says why and what to do.
//  - process.exit(n) ends the thread, with status n for its rank; process.env is the rank's own copy.
import { writeSync } from 'node:fs';
import { workerData } from 'node:worker_threads';
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
  };
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
  process.chdir = () => {
    throw tsmpiError('TSMPI_ERR_ARG', 'process.chdir() is not available to a rank running as a thread (tsmpirun --ranks threads): '
      + 'the working directory belongs to the whole process. Pass paths relative to a directory of your own, or run with --ranks processes');
  };
}

function redirect(stream: NodeJS.WriteStream, fd: number): void {
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
