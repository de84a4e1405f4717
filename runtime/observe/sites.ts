// Call sites for the profile: the program's line that made a communication call. A stack capture
// costs microseconds (and more with source maps, which map the program's frames back to its
// sources), so only a sample of calls pays it: the first SITE_FIRST_CALLS calls of every call name,
// then one in SITE_SAMPLE_EVERY. Per-site figures in the report are over the sampled calls.

/** Every call of a name is sampled until this many were. */
export const SITE_FIRST_CALLS = 4;
/** After that, one call in this many. */
export const SITE_SAMPLE_EVERY = 64;

/** Frames kept by a capture: enough to climb out of the runtime into the program. */
const STACK_DEPTH = 16;

/** Where a stack line points: the text inside its last parentheses, else after "at ". */
function locationOf(line: string): string {
  const open = line.lastIndexOf('(');
  const text = open >= 0 && line.endsWith(')') ? line.slice(open + 1, -1) : line.replace(/^\s*at\s+(async\s+)?/, '');
  return text.replace(/^file:\/\//, '');
}

/** The file part of a location ("/a/b.ts:12:5" → "/a/b.ts"). */
function fileOf(location: string): string {
  return location.replace(/:\d+(:\d+)?$/, '');
}

/**
 * Which frames are the runtime's own: this module's file, or (when the runtime runs as separate
 * modules, not as one bundle) anything under the directory that holds observe/.
 */
function runtimeFiles(): (file: string) => boolean {
  const holder: { stack?: string } = {};
  Error.captureStackTrace(holder, runtimeFiles);
  const own = fileOf(locationOf(holder.stack?.split('\n')[1] ?? ''));
  const parts = own.split(/[\\/]/);
  if (parts.length >= 3 && parts[parts.length - 2] === 'observe') {
    const root = parts.slice(0, -2).join('/') + '/';
    return (file) => file.startsWith(root);
  }
  return (file) => file === own;
}

let isRuntimeFile: ((file: string) => boolean) | undefined;

/**
 * The first frame of the program (outside the runtime and Node's internals) in the current stack,
 * as "function (file:line:column)" or "file:line:column"; "(unknown)" when there is none.
 */
export function captureSite(): string {
  isRuntimeFile ??= runtimeFiles();
  const holder: { stack?: string } = {};
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = STACK_DEPTH;
  Error.captureStackTrace(holder, captureSite);
  Error.stackTraceLimit = limit;
  const lines = (holder.stack ?? '').split('\n');
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const location = locationOf(line);
    const file = fileOf(location);
    if (file.startsWith('node:') || file === 'native' || file === '<anonymous>' || isRuntimeFile(file)) continue;
    const fn = /^\s*at\s+(?:async\s+)?(.*?)\s+\(/.exec(line)?.[1];
    return fn ? `${fn} (${location})` : location;
  }
  return '(unknown)';
}

/** Whether the `count`-th call (0-based) of a name has its site captured. */
export function sampleSite(count: number): boolean {
  return count < SITE_FIRST_CALLS || count % SITE_SAMPLE_EVERY === 0;
}
