// Turns an uncaught exception or unhandled rejection in a rank into the end of the whole job, as
// `python -m mpi4py` does: the rank's error is printed, each line prefixed with its rank, and the
// process exits non-zero so that the launcher terminates the others. Written synchronously: the process
// is about to exit and asynchronous writes would be lost.
import { isTsmpiError } from '../errors.js';
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

type FailureKind = 'uncaught exception' | 'unhandled rejection';

/** What the rank did, as the launcher's summary says it after "rank R ": "threw an uncaught TypeError: …". */
function describeFailure(kind: FailureKind, reason: unknown): string {
  const what = reason instanceof Error
    ? (reason.stack ?? '').split('\n')[0] || `${reason.name}: ${reason.message}`
    : `value: ${describeError(reason).replace(/^Uncaught /, '')}`;
  return kind === 'uncaught exception' ? `threw an uncaught ${what}` : `had an unhandled rejection: ${what}`;
}

export interface FailureOptions {
  /**
   * Print nothing for a TSMPI_ERR_PEER_LOST: the rank failed only because another rank did, and
   * tsmpirun says so once for all such ranks (or prints this description if it was the job's first).
   */
  quietWhenPeerLost?: boolean;
}

/** `beforeExit` gets what the rank did (for the launcher's summary) and what was thrown. */
export function installFailureHandlers(
  rank: number,
  beforeExit: (what: string, reason: unknown) => void,
  options: FailureOptions = {},
): void {
  const die = (kind: FailureKind) => (reason: unknown) => {
    if (!(options.quietWhenPeerLost && isTsmpiError(reason, 'TSMPI_ERR_PEER_LOST'))) {
      try {
        writeAllSync(rankStderrFd, Buffer.from(prefixLines(`[rank ${rank}] `, `${kind}: ${describeError(reason)}`)));
      } catch {
        // stderr is gone: the exit code still tells the launcher
      }
    }
    try {
      beforeExit(describeFailure(kind, reason), reason);
    } finally {
      process.exit(1);
    }
  };
  process.on('uncaughtException', die('uncaught exception'));
  process.on('unhandledRejection', die('unhandled rejection'));
}
