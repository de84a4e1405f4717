// tsmpirun's command line: argv in, validated LaunchOptions (or an exit with text to print) out.
//
// Never prints and never exits, so every path is unit-testable; launcher/bin.ts prints what it gets and
// exits with the code. The option table below is the one source of truth: it configures yargs, drives the
// token normalizer, and renders --help, so an option cannot exist in one and be missing from another.
//
// Why a normalizer runs before yargs: Open MPI users type `-np 4`, which yargs would read as the short
// flags -n -p; and option values that start with a dash (`--node-arg --inspect`, `-np -1`) would be taken
// by yargs for options. Rewriting every option to the single-token `--name=value` form before yargs sees it
// removes both ambiguities, and stopping at the first positional keeps the script's own arguments untouched.

import { accessSync, constants, readFileSync, statSync, type Stats } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import yargs from 'yargs';
import type { HostSpec, LaunchOptions, RankMode } from './options.js';
import { readConfig } from '../runtime/env/config.js';
import { isTsmpiError } from '../runtime/errors.js';

export type CommandLineResult =
  | { kind: 'run'; options: LaunchOptions }
  | { kind: 'exit'; code: number; stdout?: string; stderr?: string };

/** Exit status for anything wrong with the command line (as GNU tools and Open MPI's mpirun use). */
export const USAGE_ERROR_EXIT_CODE = 2;

export const SCRIPT_EXTENSIONS: readonly string[] = ['.ts', '.mts', '.js', '.mjs'];

interface OptionSpec {
  /** One-letter alias typed with a single dash. */
  short?: string;
  /** Placeholder shown in --help; present exactly when the option takes a value. */
  valueName?: string;
  /** Left column of --help when the default rendering would not match what users type. */
  label?: string;
  /** Given more than once, every value counts (otherwise the last one wins). */
  repeatable?: boolean;
  /** A flag that is on by default and only exists in --help as --no-<name>. */
  onByDefault?: boolean;
  help: string;
}

const OPTIONS = {
  np: {
    short: 'n',
    valueName: 'N',
    label: '-n, -np N',
    help: 'number of ranks (default: the slots of --host/--hostfile, else the Slurm allocation\'s task count, else the number of cores)',
  },
  host: {
    valueName: 'h1[:slots],h2…',
    repeatable: true,
    help: 'hosts to run on, each with its slot count (default 1)',
  },
  hostfile: { short: 'f', valueName: 'FILE', help: 'hosts to run on, one per line: "host [slots=N]", # comments' },
  oversubscribe: { help: 'allow more ranks than slots' },
  'tag-output': { help: 'prefix every output line with its rank: "[R] "' },
  'output-filename': { valueName: 'DIR', help: "also write each rank's stdout/stderr to DIR/1/rank.R/stdout|stderr" },
  x: {
    valueName: 'NAME[=VALUE]',
    label: '-x NAME[=VALUE]',
    repeatable: true,
    help: "export an environment variable to the ranks (no VALUE: take tsmpirun's own)",
  },
  timeout: { valueName: 'SECONDS', help: 'end the job after SECONDS, reporting what each rank was blocked in' },
  'node-arg': { valueName: 'ARG', repeatable: true, help: 'pass an option to node, e.g. --node-arg=--inspect (repeatable)' },
  'launch-agent': { valueName: 'CMD', help: 'command that replaces ssh to start ranks on other hosts' },
  'deadlock-detection': { onByDefault: true, help: 'do not end a job whose ranks all wait on each other forever' },
  ranks: {
    valueName: 'threads|processes',
    help: 'ranks on one host as threads of one process sharing memory, or one process each (default: threads; env TSMPI_RANKS)',
  },
  profile: { help: 'an mpiP-style summary at job end (full report in the output directory)' },
  trace: { valueName: 'FILE', help: 'a Chrome/Perfetto trace-event JSON (.json.gz: compressed), arrows from sends to receives' },
  'comm-matrix': { valueName: 'FILE.svg', help: 'bytes between every pair of ranks, as a heat map and FILE.csv' },
  version: { help: 'print the version and exit' },
  help: { short: 'h', help: 'print this help and exit' },
} as const satisfies Record<string, OptionSpec>;

type OptionName = keyof typeof OPTIONS;

const OPTION_TABLE: ReadonlyMap<string, OptionSpec> = new Map(Object.entries(OPTIONS));
const OPTION_BY_SHORT: ReadonlyMap<string, [OptionName, OptionSpec]> = new Map(
  Object.entries(OPTIONS).flatMap(([name, spec]: [string, OptionSpec]) => {
    // A one-letter name (`x`) is itself typed with a single dash.
    const letter = name.length === 1 ? name : spec.short;
    return letter === undefined ? [] : [[letter, [name as OptionName, spec]]];
  }),
);

/** Thrown by the validators below and turned into the exit-2 result in one place. */
class UsageError extends Error {}

export function parseCommandLine(
  argv: string[],
  cwd: string,
  environment: NodeJS.ProcessEnv = process.env,
): CommandLineResult {
  try {
    return parseOrThrow(argv, cwd, environment);
  } catch (error) {
    if (error instanceof UsageError) return usageError(error.message);
    throw error;
  }
}

function usageError(whatIsWrong: string): CommandLineResult {
  return {
    kind: 'exit',
    code: USAGE_ERROR_EXIT_CODE,
    stderr: `tsmpirun: ${whatIsWrong}\nRun 'tsmpirun --help' for usage.\n`,
  };
}

function parseOrThrow(argv: string[], cwd: string, environment: NodeJS.ProcessEnv): CommandLineResult {
  const parsed = runYargs(normalizeOptionTokens(argv));

  if (parsed.help === true) return { kind: 'exit', code: 0, stdout: helpText() };
  if (parsed.version === true) return { kind: 'exit', code: 0, stdout: `${packageVersion()}\n` };

  const [script, ...scriptArgs] = parsed._.map(String);
  const hostList = stringValues(parsed, 'host');
  const hostfile = lastStringValue(parsed, 'hostfile');
  if (hostList.length > 0 && hostfile !== undefined) throw new UsageError('give either --host or --hostfile, not both');
  const outputFilename = lastStringValue(parsed, 'output-filename');
  const launchAgent = lastStringValue(parsed, 'launch-agent');
  if (outputFilename === '') throw new UsageError('--output-filename needs a directory');
  if (launchAgent === '') throw new UsageError('--launch-agent needs a command');
  // The environment twins (TSMPI_PROFILE, TSMPI_TRACE, TSMPI_COMM_MATRIX) act as the options.
  const trace = lastStringValue(parsed, 'trace') ?? (environment.TSMPI_TRACE || undefined);
  const matrix = lastStringValue(parsed, 'comm-matrix') ?? (environment.TSMPI_COMM_MATRIX || undefined);
  if (trace === '') throw new UsageError('--trace needs a file');
  if (matrix !== undefined && !/\.svg$/i.test(matrix)) throw new UsageError(`--comm-matrix needs a file name ending in .svg, got '${matrix}'`);

  const options: LaunchOptions = {
    np: parseRankCount(lastStringValue(parsed, 'np')),
    script: checkScript(script, cwd),
    scriptArgs,
    oversubscribe: parsed.oversubscribe === true,
    tagOutput: parsed['tag-output'] === true,
    outputFilename: outputFilename === undefined ? undefined : checkOutputDirectory(resolve(cwd, outputFilename)),
    env: parseExports(stringValues(parsed, 'x'), environment),
    timeoutSeconds: parseTimeout(lastStringValue(parsed, 'timeout')),
    nodeArgs: stringValues(parsed, 'node-arg'),
    hosts:
      hostList.length > 0 ? parseHostList(hostList) : hostfile === undefined ? undefined : readHostfile(resolve(cwd, hostfile)),
    launchAgent,
    deadlockDetection: parsed['deadlock-detection'] !== false,
    ranks: parseRankMode(lastStringValue(parsed, 'ranks') ?? environment.TSMPI_RANKS),
    observe: {
      profile: profileDirectory(parsed.profile === true, environment.TSMPI_PROFILE, outputFilename, cwd),
      trace: trace === undefined ? undefined : resolve(cwd, trace),
      matrix: matrix === undefined ? undefined : resolve(cwd, matrix),
    },
  };
  // Every rank would refuse a misspelt or bad TSMPI_ setting as it starts: say it once, before any does.
  try {
    readConfig({ ...environment, ...options.env });
  } catch (error) {
    // What is wrong, without the code a program would test for (`TSMPI_ERR_ARG: `).
    if (isTsmpiError(error)) return { kind: 'exit', code: USAGE_ERROR_EXIT_CODE, stderr: `tsmpirun: ${error.message.slice(error.code.length + 2)}\n` };
    throw error;
  }
  return { kind: 'run', options };
}

function parseRankMode(text: string | undefined): RankMode {
  if (text === undefined || text === '') return 'threads';
  if (text === 'threads' || text === 'processes') return text;
  throw new UsageError(`--ranks expects threads or processes, got '${text}'`);
}

// ---------------------------------------------------------------------------------------------------------
// Tokens → yargs

/**
 * Rewrites the options before the script to `--name=value` / `--flag` and leaves the first positional and
 * everything after it as they are. Rejects unknown options here, where the token as the user typed it is
 * still known (yargs would report `-z` as "z").
 */
function normalizeOptionTokens(argv: readonly string[]): string[] {
  const normalized: string[] = [];
  for (let index = 0; index < argv.length; index++) {
    const token = argv[index]!;
    if (token === '--' || token === '-' || !token.startsWith('-')) {
      normalized.push(...argv.slice(index));
      break;
    }
    const { name, spec, typed, inlineValue } = identifyOption(token);
    if (spec.valueName === undefined) {
      if (inlineValue !== undefined) throw new UsageError(`option ${typed} takes no value`);
      normalized.push(typed === `--no-${name}` ? typed : `--${name}`);
      continue;
    }
    if (inlineValue !== undefined) {
      normalized.push(`--${name}=${inlineValue}`);
      continue;
    }
    // The next token is the value whatever it looks like: `--node-arg --inspect`, `-np -1`.
    if (index + 1 >= argv.length) throw new UsageError(`option ${typed} needs a value (${spec.valueName})`);
    normalized.push(`--${name}=${argv[++index]!}`);
  }
  return normalized;
}

function identifyOption(token: string): { name: OptionName; spec: OptionSpec; typed: string; inlineValue?: string } {
  // `-np` is Open MPI's spelling; as a single-dash token it must not be read as the flags -n -p.
  if (token === '-np' || token.startsWith('-np=')) {
    const inlineValue = token.length > 3 ? token.slice(4) : undefined;
    return { name: 'np', spec: OPTIONS.np, typed: '-np', inlineValue };
  }
  // Read as -n with the value 'p2', `-np2` would get a baffling answer; mpirun does not take it either.
  if (token.startsWith('-np')) {
    const attached = token.slice(3);
    throw new UsageError(/^[0-9]+$/.test(attached) ? `${token}: write -np ${attached}` : `unknown option: ${token}`);
  }

  if (token.startsWith('--')) {
    const equals = token.indexOf('=');
    const typed = equals < 0 ? token : token.slice(0, equals);
    const inlineValue = equals < 0 ? undefined : token.slice(equals + 1);
    const longName = typed.slice(2);
    const direct = longName.length > 1 ? OPTION_TABLE.get(longName) : undefined;
    if (direct !== undefined && direct.onByDefault !== true) {
      return { name: longName as OptionName, spec: direct, typed, inlineValue };
    }
    const negated = longName.startsWith('no-') ? OPTION_TABLE.get(longName.slice(3)) : undefined;
    if (negated?.onByDefault === true) {
      return { name: longName.slice(3) as OptionName, spec: negated, typed, inlineValue };
    }
    throw new UsageError(`unknown option: ${typed}`);
  }

  const letter = token.charAt(1);
  const typed = `-${letter}`;
  const found = OPTION_BY_SHORT.get(letter);
  if (found === undefined) throw new UsageError(`unknown option: ${token}`);
  const [name, spec] = found;
  const attached = token.slice(2);
  if (attached === '') return { name, spec, typed };
  // `-n4`, `-n=4`, `-xFOO=1`; a flag with letters attached (`-hz`) is not a combination we offer.
  if (spec.valueName === undefined) throw new UsageError(`unknown option: ${token}`);
  return { name, spec, typed, inlineValue: attached.startsWith('=') ? attached.slice(1) : attached };
}

type ParsedArguments = { _: (string | number)[] } & { [name: string]: unknown };

function runYargs(normalizedTokens: string[]): ParsedArguments {
  let failure: string | undefined;
  const parser = yargs(normalizedTokens)
    .scriptName('tsmpirun')
    .locale('en')
    .parserConfiguration({
      // The script is the first positional: it and everything after it belong to the script.
      'halt-at-non-option': true,
      'parse-numbers': false,
      'parse-positional-numbers': false,
      'camel-case-expansion': false,
      'dot-notation': false,
      'populate--': false,
    })
    // Our own help and version options come from the table; yargs' built-ins would print and exit.
    .help(false)
    .version(false)
    .options(
      Object.fromEntries(
        Object.entries(OPTIONS).map(([name, spec]: [string, OptionSpec]) => [
          name,
          {
            type: spec.valueName === undefined ? ('boolean' as const) : ('string' as const),
            ...(spec.short === undefined ? {} : { alias: spec.short }),
            ...(spec.onByDefault === true ? { default: true } : {}),
          },
        ]),
      ),
    )
    .strict()
    .exitProcess(false)
    .fail((message, error) => {
      failure ??= message ?? error?.message ?? 'invalid command line';
    });
  const parsed = parser.parseSync() as ParsedArguments;
  if (failure !== undefined) throw new UsageError(failure.charAt(0).toLowerCase() + failure.slice(1));
  return parsed;
}

function stringValues(parsed: ParsedArguments, name: OptionName): string[] {
  const value = parsed[name];
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).map(String);
}

function lastStringValue(parsed: ParsedArguments, name: OptionName): string | undefined {
  return stringValues(parsed, name).at(-1);
}

// ---------------------------------------------------------------------------------------------------------
// Values

function parseRankCount(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const count = Number(text);
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(count) || count < 1) {
    throw new UsageError(`-np expects a positive integer, got '${text}'`);
  }
  return count;
}

function parseTimeout(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const seconds = Number(text);
  if (!/^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)$/.test(text) || !Number.isFinite(seconds) || seconds <= 0) {
    throw new UsageError(`--timeout expects a positive number of seconds, got '${text}'`);
  }
  return seconds;
}

function checkScript(script: string | undefined, cwd: string): string {
  if (script === undefined || script === '') throw new UsageError('no script given');
  const scriptPath = resolve(cwd, script);
  const stats = statSync(scriptPath, { throwIfNoEntry: false });
  if (stats === undefined) throw new UsageError(`script not found: ${scriptPath}`);
  if (!stats.isFile()) throw new UsageError(`script is not a file: ${scriptPath}`);
  if (!SCRIPT_EXTENSIONS.includes(extname(scriptPath))) {
    throw new UsageError(
      `unsupported script extension '${extname(scriptPath)}' (expected ${SCRIPT_EXTENSIONS.join(' ')}): ${scriptPath}`,
    );
  }
  return scriptPath;
}

/**
 * Where --profile (or TSMPI_PROFILE=1) writes its full report: --output-filename's directory, else the
 * working directory; TSMPI_PROFILE=DIR names one. undefined: no profile.
 */
function profileDirectory(option: boolean, twin: string | undefined, outputFilename: string | undefined, cwd: string): string | undefined {
  const fromTwin = twin !== undefined && twin !== '' && twin !== '0';
  if (!option && !fromTwin) return undefined;
  if (!option && twin !== '1') return resolve(cwd, twin!);
  return outputFilename === undefined ? cwd : resolve(cwd, outputFilename);
}

/**
 * The rank folders are made when the ranks start: a path that cannot become a directory, or one in a
 * folder we cannot write, is a usage error now rather than a failure of the started job.
 */
function checkOutputDirectory(directory: string): string {
  for (let at = directory; ; at = dirname(at)) {
    let stats: Stats | undefined;
    try {
      stats = statSync(at);
    } catch {
      // Missing, or below a file (ENOTDIR): the first folder up that exists decides.
    }
    if (stats === undefined) {
      if (dirname(at) === at) return directory;
      continue;
    }
    if (!stats.isDirectory()) throw new UsageError(`--output-filename: ${at} is not a directory`);
    try {
      accessSync(at, constants.W_OK | constants.X_OK);
    } catch {
      throw new UsageError(`--output-filename: cannot create files in ${at} (permission denied)`);
    }
    return directory;
  }
}

// POSIX portable names; anything else would not survive every shell and spawn path on the way to a rank.
const ENVIRONMENT_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function parseExports(assignments: string[], environment: NodeJS.ProcessEnv): Record<string, string> {
  const exported: Record<string, string> = {};
  for (const assignment of assignments) {
    const equals = assignment.indexOf('=');
    const name = equals < 0 ? assignment : assignment.slice(0, equals);
    if (!ENVIRONMENT_NAME.test(name)) throw new UsageError(`-x: invalid environment variable name '${name}'`);
    if (equals >= 0) {
      exported[name] = assignment.slice(equals + 1);
      continue;
    }
    const inherited = environment[name];
    if (inherited === undefined) throw new UsageError(`-x ${name}: ${name} is not set in tsmpirun's environment`);
    exported[name] = inherited;
  }
  return exported;
}

// A host must not start with '-': it ends up as an argument of ssh (or the launch agent), where it would be
// read as an option. `[v6address]` brackets keep the slot colon unambiguous and are removed.
const HOST_NAME = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9_][A-Za-z0-9_.@-]*))$/;

function parseHostName(text: string): string | undefined {
  const match = HOST_NAME.exec(text);
  return match === null ? undefined : (match[1] ?? match[2]);
}

function parseSlots(text: string): number | undefined {
  const slots = Number(text);
  return /^[0-9]+$/.test(text) && Number.isSafeInteger(slots) && slots >= 1 ? slots : undefined;
}

function parseHostList(lists: string[]): HostSpec[] {
  const hosts: HostSpec[] = [];
  for (const entry of lists.flatMap((list) => list.split(','))) {
    const colon = entry.lastIndexOf(':');
    const hasSlots = colon >= 0 && !entry.endsWith(']');
    const host = parseHostName(hasSlots ? entry.slice(0, colon) : entry);
    const slots = hasSlots ? parseSlots(entry.slice(colon + 1)) : 1;
    if (host === undefined || slots === undefined) {
      throw new UsageError(`--host: malformed entry '${entry}' (expected host or host:slots, slots ≥ 1)`);
    }
    hosts.push({ host, slots });
  }
  return mergeRepeatedHosts(hosts);
}

function readHostfile(hostfilePath: string): HostSpec[] {
  let text: string;
  try {
    text = readFileSync(hostfilePath, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(code === 'ENOENT' ? `hostfile not found: ${hostfilePath}` : `cannot read hostfile ${hostfilePath}: ${code}`);
  }
  const hosts: HostSpec[] = [];
  text.split(/\r?\n/).forEach((line, lineIndex) => {
    const words = line.replace(/#.*/, '').trim().split(/\s+/).filter((word) => word !== '');
    if (words.length === 0) return;
    const host = parseHostName(words[0]!);
    const slotsWord = words[1];
    const slots = slotsWord === undefined ? 1 : slotsWord.startsWith('slots=') ? parseSlots(slotsWord.slice(6)) : undefined;
    if (host === undefined || slots === undefined || words.length > 2) {
      throw new UsageError(
        `hostfile ${hostfilePath} line ${lineIndex + 1}: expected "host [slots=N]" (N ≥ 1), got '${line.trim()}'`,
      );
    }
    hosts.push({ host, slots });
  });
  if (hosts.length === 0) throw new UsageError(`hostfile ${hostfilePath} lists no hosts`);
  return mergeRepeatedHosts(hosts);
}

/** As in Open MPI, naming a host twice adds its slots (`--host a,a` is two slots on a). */
function mergeRepeatedHosts(hosts: HostSpec[]): HostSpec[] {
  const byName = new Map<string, HostSpec>();
  for (const { host, slots } of hosts) {
    const known = byName.get(host);
    if (known === undefined) byName.set(host, { host, slots });
    else known.slots += slots;
  }
  return [...byName.values()];
}

// ---------------------------------------------------------------------------------------------------------
// Help and version

function helpLabel(name: string, spec: OptionSpec): string {
  if (spec.label !== undefined) return spec.label;
  const long = spec.onByDefault === true ? `--no-${name}` : `--${name}`;
  const names = spec.short === undefined ? long : `${long}, -${spec.short}`;
  return spec.valueName === undefined ? names : `${names} ${spec.valueName}`;
}

export function helpText(): string {
  const rows = Object.entries(OPTIONS).map(([name, spec]: [string, OptionSpec]) => [helpLabel(name, spec), spec.help]);
  const labelWidth = Math.max(...rows.map(([label]) => label!.length)) + 2;
  return [
    `Usage: tsmpirun [options] <script${SCRIPT_EXTENSIONS.join('|')}> [args…]`,
    '',
    'Runs the script as N ranks of one tsmpi job. Everything after the script is passed to it unchanged.',
    '',
    'Options:',
    ...rows.map(([label, help]) => `  ${label!.padEnd(labelWidth)}${help}`),
    '',
  ].join('\n');
}

/** The version in tsmpi's package.json, found upward from this file (launcher/ in source, dist/launcher/ built). */
export function packageVersion(): string {
  let directory = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const manifest = JSON.parse(readFileSync(join(directory, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (manifest.name === 'tsmpi' && typeof manifest.version === 'string') return manifest.version;
    } catch {
      // No (readable) package.json at this level: keep climbing.
    }
    const parent = dirname(directory);
    if (parent === directory) return 'unknown';
    directory = parent;
  }
}
