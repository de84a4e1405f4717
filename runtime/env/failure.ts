// Turns an uncaught exception or unhandled rejection in a rank into the end of the whole job, as
// `python -m mpi4py` does: the rank's error is printed, each line prefixed with its rank, and the
// process exits non-zero so that tsmpirun terminates the others. Written synchronously: the process
// is about to exit and asynchronous writes would be lost.
import { rankStderrFd, writeAllSync } from './thread-rank.js';

export function prefixLines(prefix: string, text: string): string {
  return text.split('\n').map((line) => `${prefix}${line}`).join('\n') + '\n';
}

export function describeError(reason: unknown): string {
  if (reason instanceof Error) return reason.stack ?? `${reason.name}: ${reason.message}`;
  try {
    return `Uncaught ${typeof reason === 'string' ? reason : JSON.stringify(reason)}`;
  } catch {
    return `Uncaught ${String(reason)}`;
  }
}

/** `beforeExit` gets the first line of the report (for a launcher's log) and what was thrown. */
export function installFailureHandlers(rank: number, beforeExit: (message: string, reason: unknown) => void): void {
  const die = (kind: string) => (reason: unknown) => {
    const text = describeError(reason);
    try {
      writeAllSync(rankStderrFd, Buffer.from(prefixLines(`[rank ${rank}] `, `${kind}: ${text}`)));
    } catch {
      // stderr is gone: the exit code still tells tsmpirun
    }
    try {
      beforeExit(text.split('\n')[0] ?? kind, reason);
    } finally {
      process.exit(1);
    }
  };
  process.on('uncaughtException', die('uncaught exception'));
  process.on('unhandledRejection', die('unhandled rejection'));
}
