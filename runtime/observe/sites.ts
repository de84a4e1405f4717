// Call sites for the profile: the program's line that made a communication call. A stack capture
// costs microseconds, so only a sample of calls pays it: the first SITE_FIRST_CALLS calls of every
// call name, then one in SITE_SAMPLE_EVERY. Per-site figures in the report are over the sampled calls.
// The capture takes V8's structured call sites (~25 µs here for 16 frames), never the formatted
// stack: with --enable-source-maps, formatting maps every frame and cost ~440 µs. Sites are mapped
// to the program's sources once, when the recording ends (describeSite).
import { findSourceMap } from 'node:module';
import { fileURLToPath } from 'node:url';

/** Every call of a name is sampled until this many were. */
export const SITE_FIRST_CALLS = 4;
/** After that, one call in this many: ~0.1 µs per call on average at ~25 µs a capture (one in 64 cost 0.4 µs, 4% of a threads-mode round trip). */
export const SITE_SAMPLE_EVERY = 256;

/** Frames kept by a capture: enough to climb out of the runtime into the program. */
const STACK_DEPTH = 16;

/** The call sites of the current stack above `above` (structured, unformatted). */
function callSites(above: (...args: never[]) => unknown): NodeJS.CallSite[] {
  const prepare = Error.prepareStackTrace, limit = Error.stackTraceLimit;
  const holder: { stack?: NodeJS.CallSite[] } = {};
  Error.prepareStackTrace = (_error, sites) => sites;
  Error.stackTraceLimit = STACK_DEPTH;
  try {
    Error.captureStackTrace(holder, above);
    return holder.stack ?? [];
  } finally {
    Error.prepareStackTrace = prepare;
    Error.stackTraceLimit = limit;
  }
}

/**
 * Which frames are the runtime's own: this module's file (the runtime bundled into one file), or
 * anything under the directory that holds observe/ (the runtime as separate modules).
 */
function runtimeFiles(): (file: string) => boolean {
  const own = callSites(runtimeFiles)[0]?.getFileName() ?? '';
  const parts = own.split(/[\\/]/);
  if (parts.length >= 3 && parts[parts.length - 2] === 'observe') {
    const root = parts.slice(0, -2).join('/') + '/';
    return (file) => file.startsWith(root);
  }
  return (file) => file === own;
}

let isRuntimeFile: ((file: string) => boolean) | undefined;

/** The first frame of the program (outside the runtime and Node's internals), as "file:line:column function". */
export function captureSite(): string {
  isRuntimeFile ??= runtimeFiles();
  for (const site of callSites(captureSite)) {
    const file = site.getFileName();
    if (!file || file.startsWith('node:') || isRuntimeFile(file)) continue;
    return `${file}:${site.getLineNumber()}:${site.getColumnNumber()} ${site.getFunctionName() ?? ''}`;
  }
  return '(unknown)';
}

/** A captured site as the program's sources name it: "function (file:line:column)", through source maps. */
export function describeSite(raw: string): string {
  const m = /^(.*):(\d+):(\d+) (.*)$/.exec(raw);
  if (!m) return raw;
  let [file, line, column] = [m[1]!, Number(m[2]), Number(m[3])];
  const fn = m[4]!;
  try {
    const entry = findSourceMap(file)?.findEntry(line - 1, column - 1) as { originalSource?: string; originalLine?: number; originalColumn?: number } | undefined;
    if (entry?.originalSource !== undefined && entry.originalLine !== undefined) {
      file = entry.originalSource;
      line = entry.originalLine + 1;
      column = (entry.originalColumn ?? 0) + 1;
    }
  } catch {
    // no source map: the position in the file that ran
  }
  if (file.startsWith('file://')) file = fileURLToPath(file);
  const where = `${file}:${line}:${column}`;
  return fn ? `${fn} (${where})` : where;
}

/** Whether the `count`-th call (0-based) of a name has its site captured. */
export function sampleSite(count: number): boolean {
  return count < SITE_FIRST_CALLS || count % SITE_SAMPLE_EVERY === 0;
}
