// tsmpirun's command line (launcher/cli.ts): every option, and every usage error with its exit code 2 and
// its one-line message. Scripts and hostfiles live in a temporary folder that serves as the cwd.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCommandLine, type CommandLineResult } from '../../launcher/cli.js';
import type { LaunchOptions } from '../../launcher/options.js';

let cwd: string;
let script: string;

beforeAll(() => {
  cwd = mkdtempSync(join(tmpdir(), 'tsmpi-cli-'));
  for (const name of ['app.ts', 'app.mts', 'app.js', 'app.mjs', 'app.py']) writeFileSync(join(cwd, name), '');
  mkdirSync(join(cwd, 'sub'));
  writeFileSync(join(cwd, 'sub', 'nested.ts'), '');
  mkdirSync(join(cwd, 'folder.ts'));
  script = join(cwd, 'app.ts');
});

afterAll(() => rmSync(cwd, { recursive: true, force: true }));

const environment = { CLI_TEST_INHERITED: 'from launcher', EMPTY_ONE: '' };

function parse(...argv: string[]): CommandLineResult {
  return parseCommandLine(argv, cwd, environment);
}

function run(...argv: string[]): LaunchOptions {
  const result = parse(...argv);
  if (result.kind !== 'run') throw new Error(`expected a run, got ${JSON.stringify(result)}`);
  return result.options;
}

/** Asserts the usage-error shape and returns the `tsmpirun: …` line. */
function usageError(...argv: string[]): string {
  const result = parse(...argv);
  expect(result).toMatchObject({ kind: 'exit', code: 2 });
  if (result.kind !== 'exit') throw new Error('unreachable');
  expect(result.stdout).toBeUndefined();
  const lines = result.stderr!.split('\n');
  expect(lines).toHaveLength(3);
  expect(lines[0]).toMatch(/^tsmpirun: \S/);
  expect(lines[1]).toBe("Run 'tsmpirun --help' for usage.");
  expect(lines[2]).toBe('');
  return lines[0]!;
}

function writeHostfile(name: string, text: string): string {
  writeFileSync(join(cwd, name), text);
  return name;
}

describe('defaults', () => {
  it('a bare script gives every default', () => {
    expect(run('app.ts')).toEqual({
      np: undefined,
      script,
      scriptArgs: [],
      oversubscribe: false,
      tagOutput: false,
      outputFilename: undefined,
      env: {},
      timeoutSeconds: undefined,
      nodeArgs: [],
      hosts: undefined,
      launchAgent: undefined,
      deadlockDetection: true,
      ranks: 'threads',
      observe: { profile: undefined, trace: undefined, matrix: undefined },
    } satisfies LaunchOptions);
  });

  it('accepts every supported extension and resolves the script against cwd', () => {
    for (const name of ['app.ts', 'app.mts', 'app.js', 'app.mjs']) expect(run(name).script).toBe(join(cwd, name));
    expect(run('sub/nested.ts').script).toBe(join(cwd, 'sub', 'nested.ts'));
    expect(run(script).script).toBe(script);
  });
});

describe('ranks as threads or processes', () => {
  const withRanksEnv = (value: string, ...argv: string[]) => parseCommandLine(argv, cwd, { ...environment, TSMPI_RANKS: value });

  it('threads by default; TSMPI_RANKS chooses; --ranks wins over it', () => {
    expect(run('app.ts').ranks).toBe('threads');
    expect(run('--ranks', 'processes', 'app.ts').ranks).toBe('processes');
    expect(withRanksEnv('processes', 'app.ts')).toMatchObject({ kind: 'run', options: { ranks: 'processes' } });
    expect(withRanksEnv('', 'app.ts')).toMatchObject({ kind: 'run', options: { ranks: 'threads' } });
    expect(withRanksEnv('processes', '--ranks', 'threads', 'app.ts')).toMatchObject({ kind: 'run', options: { ranks: 'threads' } });
  });

  it('refuses another mode, from the option or the environment', () => {
    expect(usageError('--ranks', 'fibers', 'app.ts')).toBe("tsmpirun: --ranks expects threads or processes, got 'fibers'");
    expect(withRanksEnv('thread', 'app.ts')).toMatchObject({ kind: 'exit', code: 2, stderr: expect.stringContaining("got 'thread'") });
  });
});

describe('rank count', () => {
  it.each([
    [['-np', '4'], 4],
    [['-np=4'], 4],
    [['--np', '4'], 4],
    [['--np=4'], 4],
    [['-n', '4'], 4],
    [['-n=4'], 4],
    [['-n4'], 4],
    [['-np', '1'], 1],
    [['-np', '2', '-np', '3'], 3],
  ])('%j gives %i', (args, expected) => {
    expect(run(...args, 'app.ts').np).toBe(expected);
  });

  it.each(['0', '-1', 'abc', '1.5', '', '4x', '1e3', '99999999999999999999'])('-np %j is a usage error', (value) => {
    expect(usageError('-np', value, 'app.ts')).toBe(`tsmpirun: -np expects a positive integer, got '${value}'`);
  });

  it('-np2 (no space) is a usage error that says what to write', () => {
    expect(usageError('-np2', 'app.ts')).toBe('tsmpirun: -np2: write -np 2');
    expect(usageError('-np16', 'app.ts')).toBe('tsmpirun: -np16: write -np 16');
    expect(usageError('-npx', 'app.ts')).toBe('tsmpirun: unknown option: -npx');
  });

  it('-np without a value is a usage error', () => {
    expect(usageError('-np')).toBe('tsmpirun: option -np needs a value (N)');
  });
});

describe('script and its arguments', () => {
  it('leaves everything after the script to the script, even options', () => {
    const options = run('-np', '4', 'app.ts', '--foo', '-x');
    expect(options.np).toBe(4);
    expect(options.scriptArgs).toEqual(['--foo', '-x']);
    expect(options.env).toEqual({});
  });

  it('passes script arguments verbatim: numbers stay strings, tsmpirun options and -- are not interpreted', () => {
    const args = ['300000000', '-np', '2', '--', '--tag-output', '-x', 'A=1', '', '1e3', '--help', '0x10'];
    const options = run('app.ts', ...args);
    expect(options.scriptArgs).toEqual(args);
    expect(options.np).toBeUndefined();
    expect(options.tagOutput).toBe(false);
  });

  it('-- ends the options', () => {
    expect(run('-np', '2', '--', 'app.ts', 'a')).toMatchObject({ np: 2, script, scriptArgs: ['a'] });
  });

  it('a missing script is a usage error', () => {
    expect(usageError()).toBe('tsmpirun: no script given');
    expect(usageError('-np', '4')).toBe('tsmpirun: no script given');
    expect(usageError('--tag-output', '--')).toBe('tsmpirun: no script given');
  });

  it('a nonexistent script is a usage error naming its absolute path', () => {
    expect(usageError('-np', '2', 'missing.ts')).toBe(`tsmpirun: script not found: ${join(cwd, 'missing.ts')}`);
  });

  it('a folder is not a script', () => {
    expect(usageError('folder.ts')).toBe(`tsmpirun: script is not a file: ${join(cwd, 'folder.ts')}`);
  });

  it('an unsupported extension is a usage error', () => {
    expect(usageError('app.py')).toBe(
      `tsmpirun: unsupported script extension '.py' (expected .ts .mts .js .mjs): ${join(cwd, 'app.py')}`,
    );
  });
});

describe('--profile, --trace, --comm-matrix', () => {
  it('the environment twins act as the options; an option wins over its twin', () => {
    const twins = { TSMPI_PROFILE: '1', TSMPI_TRACE: 'env.json', TSMPI_COMM_MATRIX: 'env.svg' };
    const fromEnv = parseCommandLine(['app.ts'], cwd, twins);
    expect(fromEnv.kind === 'run' && fromEnv.options.observe).toEqual({ profile: cwd, trace: join(cwd, 'env.json'), matrix: join(cwd, 'env.svg') });
    const both = parseCommandLine(['--trace', 'opt.json', 'app.ts'], cwd, { ...twins, TSMPI_PROFILE: '0' });
    expect(both.kind === 'run' && both.options.observe).toEqual({ profile: undefined, trace: join(cwd, 'opt.json'), matrix: join(cwd, 'env.svg') });
    // The report goes to --output-filename's directory, or to the directory TSMPI_PROFILE names.
    const dir = parseCommandLine(['app.ts'], cwd, { TSMPI_PROFILE: 'reports' });
    expect(dir.kind === 'run' && dir.options.observe.profile).toBe(join(cwd, 'reports'));
  });

  it('the matrix must be an .svg file, the trace a file', () => {
    expect(usageError('--comm-matrix', 'm.png', 'app.ts')).toBe("tsmpirun: --comm-matrix needs a file name ending in .svg, got 'm.png'");
    expect(usageError('--trace', '', 'app.ts')).toBe('tsmpirun: --trace needs a file');
    expect(usageError('--profile=yes', 'app.ts')).toBe('tsmpirun: option --profile takes no value');
  });
});

describe('flags', () => {
  it('--oversubscribe, --tag-output, --no-deadlock-detection', () => {
    expect(run('--oversubscribe', '--tag-output', '--no-deadlock-detection', 'app.ts')).toMatchObject({
      oversubscribe: true,
      tagOutput: true,
      deadlockDetection: false,
    });
  });

  it('a flag given a value is a usage error', () => {
    expect(usageError('--oversubscribe=yes', 'app.ts')).toBe('tsmpirun: option --oversubscribe takes no value');
  });

  it('only the --no- form of deadlock detection exists', () => {
    expect(usageError('--deadlock-detection', 'app.ts')).toBe('tsmpirun: unknown option: --deadlock-detection');
    expect(usageError('--no-tag-output', 'app.ts')).toBe('tsmpirun: unknown option: --no-tag-output');
  });
});

describe('unknown options', () => {
  it.each([
    ['--bogus', '--bogus'],
    ['--bogus=1', '--bogus'],
    ['-z', '-z'],
    ['-hz', '-hz'],
    ['--tagOutput', '--tagOutput'],
    ['--x=A=1', '--x'],
    ['--n=2', '--n'],
  ])('%s is a usage error', (option, shown) => {
    expect(usageError(option, 'app.ts')).toBe(`tsmpirun: unknown option: ${shown}`);
  });

  it('is reported even when the script is missing', () => {
    expect(usageError('--bogus')).toBe('tsmpirun: unknown option: --bogus');
  });
});

describe('--output-filename', () => {
  it('resolves the directory against cwd', () => {
    expect(run('--output-filename', 'out', 'app.ts').outputFilename).toBe(join(cwd, 'out'));
    const absolute = join(cwd, 'absolute', 'dir');
    expect(run(`--output-filename=${absolute}`, 'app.ts').outputFilename).toBe(absolute);
  });

  it('an empty directory is a usage error', () => {
    expect(usageError('--output-filename=', 'app.ts')).toBe('tsmpirun: --output-filename needs a directory');
  });

  it('a file, or a path through a file, is a usage error naming the file', () => {
    expect(usageError('--output-filename', 'app.js', 'app.ts')).toBe(`tsmpirun: --output-filename: ${join(cwd, 'app.js')} is not a directory`);
    expect(usageError('--output-filename', 'app.js/out', 'app.ts')).toBe(`tsmpirun: --output-filename: ${join(cwd, 'app.js')} is not a directory`);
  });

  it('a directory that does not exist yet, under one we can write, is fine', () => {
    expect(run('--output-filename', 'new/deeper', 'app.ts').outputFilename).toBe(join(cwd, 'new', 'deeper'));
  });

  // root may write anywhere, so only another user can see this refused.
  it.runIf(process.getuid?.() !== 0)('a folder we cannot write in is a usage error', () => {
    const locked = join(cwd, 'locked');
    mkdirSync(locked, { mode: 0o500 });
    expect(usageError('--output-filename', 'locked/out', 'app.ts')).toBe(`tsmpirun: --output-filename: cannot create files in ${locked} (permission denied)`);
  });
});

describe('-x', () => {
  it('takes NAME=VALUE verbatim (value may hold = and be empty) and NAME from the environment', () => {
    const options = run(
      '-x', 'A=1',
      '-x', 'B=x=y',
      '-x', 'C=',
      '-x=D=2',
      '-xE=3',
      '-x', 'CLI_TEST_INHERITED',
      '-x', 'EMPTY_ONE',
      'app.ts',
    );
    expect(options.env).toEqual({ A: '1', B: 'x=y', C: '', D: '2', E: '3', CLI_TEST_INHERITED: 'from launcher', EMPTY_ONE: '' });
  });

  it('a later -x of the same name wins', () => {
    expect(run('-x', 'A=1', '-x', 'A=2', 'app.ts').env).toEqual({ A: '2' });
  });

  it('uses process.env when no environment is passed', () => {
    process.env.CLI_TEST_VARIABLE = 'yes';
    try {
      const result = parseCommandLine(['-x', 'CLI_TEST_VARIABLE', 'app.ts'], cwd);
      expect(result).toMatchObject({ kind: 'run', options: { env: { CLI_TEST_VARIABLE: 'yes' } } });
    } finally {
      delete process.env.CLI_TEST_VARIABLE;
    }
  });

  it.each(['1A=2', 'A-B=1', '=value', '', 'A B=1', 'Ä=1'])('-x %j is a usage error', (assignment) => {
    const name = assignment.split('=')[0];
    expect(usageError('-x', assignment, 'app.ts')).toBe(`tsmpirun: -x: invalid environment variable name '${name}'`);
  });

  it('-x NAME of a variable tsmpirun does not have is a usage error', () => {
    expect(usageError('-x', 'NOT_SET_ANYWHERE', 'app.ts')).toBe(
      "tsmpirun: -x NOT_SET_ANYWHERE: NOT_SET_ANYWHERE is not set in tsmpirun's environment",
    );
  });

  it('-x without a value is a usage error', () => {
    expect(usageError('-x')).toBe('tsmpirun: option -x needs a value (NAME[=VALUE])');
  });
});

describe('--timeout', () => {
  it.each([
    ['10', 10],
    ['0.5', 0.5],
    ['.25', 0.25],
    ['3.', 3],
  ])('--timeout %s gives %d seconds', (value, seconds) => {
    expect(run('--timeout', value, 'app.ts').timeoutSeconds).toBe(seconds);
    expect(run(`--timeout=${value}`, 'app.ts').timeoutSeconds).toBe(seconds);
  });

  it.each(['0', '-5', 'abc', '10s', '', '1e3', 'Infinity', '0.0'])('--timeout %j is a usage error', (value) => {
    expect(usageError('--timeout', value, 'app.ts')).toBe(
      `tsmpirun: --timeout expects a positive number of seconds, got '${value}'`,
    );
  });
});

describe('--node-arg', () => {
  it('takes values that start with -- in both spellings, in order', () => {
    const options = run(
      '--node-arg=--max-old-space-size=100',
      '--node-arg', '--inspect',
      '--node-arg', '-r',
      '--node-arg', './preload.js',
      'app.ts',
      '--node-arg', 'not-ours',
    );
    expect(options.nodeArgs).toEqual(['--max-old-space-size=100', '--inspect', '-r', './preload.js']);
    expect(options.scriptArgs).toEqual(['--node-arg', 'not-ours']);
  });

  it('--node-arg without a value is a usage error', () => {
    expect(usageError('--node-arg')).toBe('tsmpirun: option --node-arg needs a value (ARG)');
  });
});

describe('--launch-agent', () => {
  it('keeps the command as given', () => {
    expect(run('--launch-agent', 'ssh -p 2222 -o BatchMode=yes', 'app.ts').launchAgent).toBe('ssh -p 2222 -o BatchMode=yes');
  });

  it('an empty command is a usage error', () => {
    expect(usageError('--launch-agent=', 'app.ts')).toBe('tsmpirun: --launch-agent needs a command');
  });
});

describe('--host', () => {
  it('parses host[:slots] lists, repeated options, IPv6 brackets; repeated hosts add their slots', () => {
    expect(run('--host', 'a:2,b', '--host', 'c.example.org:4,user@d,a,[fe80::1]:3,10.0.0.7', 'app.ts').hosts).toEqual([
      { host: 'a', slots: 3 },
      { host: 'b', slots: 1 },
      { host: 'c.example.org', slots: 4 },
      { host: 'user@d', slots: 1 },
      { host: 'fe80::1', slots: 3 },
      { host: '10.0.0.7', slots: 1 },
    ]);
  });

  it.each(['a:0', 'a:', 'a:-1', 'a:x', 'a:1.5', ',a', 'a,', '', '-oProxyCommand=x', 'a b', 'fe80::1', 'a:2:3'])(
    '--host %j is a usage error',
    (list) => {
      expect(usageError('--host', list, 'app.ts')).toMatch(/^tsmpirun: --host: malformed entry '[^']*' \(expected host or host:slots, slots ≥ 1\)$/);
    },
  );

  it('names the malformed entry', () => {
    expect(usageError('--host', 'good:2,bad:0', 'app.ts')).toContain("'bad:0'");
  });

  it('cannot be combined with --hostfile', () => {
    writeHostfile('hosts-both', 'a\n');
    expect(usageError('--host', 'a', '--hostfile', 'hosts-both', 'app.ts')).toBe(
      'tsmpirun: give either --host or --hostfile, not both',
    );
  });
});

describe('--hostfile / -f', () => {
  it('reads "host [slots=N]" lines with comments, blank lines and CRLF; relative to cwd', () => {
    const name = writeHostfile(
      'hosts-good',
      '# cluster\n\nnode1 slots=4\r\n  node2   # one slot\nnode3 slots=2 # trailing comment\n\tnode1 slots=1\n',
    );
    const expected = [
      { host: 'node1', slots: 5 },
      { host: 'node2', slots: 1 },
      { host: 'node3', slots: 2 },
    ];
    expect(run('--hostfile', name, 'app.ts').hosts).toEqual(expected);
    expect(run('-f', name, 'app.ts').hosts).toEqual(expected);
    expect(run(`--hostfile=${join(cwd, name)}`, 'app.ts').hosts).toEqual(expected);
  });

  it.each([
    ['node1 slots=0', 1],
    ['node1 slots=', 1],
    ['node1 slots=x', 1],
    ['node1 4', 1],
    ['node1 max_slots=4', 1],
    ['node1 slots=2 extra', 1],
    ['ok\n-bad', 2],
  ])('line %j is a usage error naming file and line', (text, line) => {
    const name = writeHostfile('hosts-bad', text);
    expect(usageError('--hostfile', name, 'app.ts')).toMatch(
      new RegExp(`^tsmpirun: hostfile ${join(cwd, name)} line ${line}: expected "host \\[slots=N\\]" \\(N ≥ 1\\), got '`),
    );
  });

  it('a hostfile with no hosts is a usage error', () => {
    const name = writeHostfile('hosts-empty', '# nothing\n\n');
    expect(usageError('-f', name, 'app.ts')).toBe(`tsmpirun: hostfile ${join(cwd, name)} lists no hosts`);
  });

  it('a missing hostfile is a usage error', () => {
    expect(usageError('-f', 'no-such-hostfile', 'app.ts')).toBe(`tsmpirun: hostfile not found: ${join(cwd, 'no-such-hostfile')}`);
  });
});

describe('TSMPI_ variables in the environment', () => {
  /** The one line tsmpirun prints for a bad setting (exit 2, no usage hint: the command line is fine). */
  function settingError(env: Record<string, string>, ...argv: string[]): string {
    const result = parseCommandLine(argv, cwd, env);
    expect(result).toMatchObject({ kind: 'exit', code: 2 });
    const lines = (result.kind === 'exit' ? result.stderr ?? '' : '').split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toBe('');
    return lines[0]!;
  }
  const offered = 'TSMPI_RANKS, TSMPI_TRANSPORT, TSMPI_EAGER_LIMIT, TSMPI_TCP_HOST, TSMPI_LAUNCHER_ADDRESS, TSMPI_PMI, '
    + 'TSMPI_PROFILE, TSMPI_TRACE, TSMPI_COMM_MATRIX, TSMPI_OBSERVE_EVENTS, TSMPI_COLL_<NAME>';

  it('an unknown one is refused before any rank starts, offering only what users may set', () => {
    expect(settingError({ TSMPI_EAGERLIMIT: '1' }, 'app.ts')).toBe(`tsmpirun: unknown variable TSMPI_EAGERLIMIT; the variables users may set are: ${offered}`);
    expect(settingError({}, '-x', 'TSMPI_TRANSPRT=tcp', 'app.ts')).toMatch(/^tsmpirun: unknown variable TSMPI_TRANSPRT;/);
  });

  it('a bad value is refused, a collective override included', () => {
    expect(settingError({ TSMPI_TRANSPORT: 'udp' }, 'app.ts')).toBe('tsmpirun: TSMPI_TRANSPORT=udp: expected unix or tcp');
    expect(settingError({ TSMPI_COLL_ALLREDUCE: 'bogus' }, 'app.ts'))
      .toBe('tsmpirun: TSMPI_COLL_ALLREDUCE=bogus is not an algorithm of allreduce; valid: recursive_doubling, rabenseifner, ring, auto');
    expect(settingError({ TSMPI_COLL_ALLREDUCES: 'ring' }, 'app.ts')).toMatch(/^tsmpirun: unknown collective in TSMPI_COLL_ALLREDUCES; known: /);
  });

  it('good settings, and the variables tsmpirun itself sets for what it starts, pass', () => {
    const env = { TSMPI_TRANSPORT: 'tcp', TSMPI_EAGER_LIMIT: '65536', TSMPI_COLL_BCAST: 'binomial', TSMPI_CONTROL: 'ws://127.0.0.1:1', TSMPI_RANK: '0' };
    expect(parseCommandLine(['app.ts'], cwd, env)).toMatchObject({ kind: 'run' });
  });
});

describe('--help and --version', () => {
  it('--help lists every option, one line each, and exits 0', () => {
    for (const argv of [['--help'], ['-h'], ['-np', '4', '--help', 'app.ts']]) {
      const result = parse(...argv);
      expect(result).toMatchObject({ kind: 'exit', code: 0 });
      if (result.kind !== 'exit') throw new Error('unreachable');
      expect(result.stderr).toBeUndefined();
      const lines = result.stdout!.split('\n');
      expect(lines[0]).toMatch(/^Usage: tsmpirun \[options\] <script/);
      for (const option of [
        '-n, -np N',
        '--host ',
        '--hostfile, -f FILE',
        '--oversubscribe',
        '--tag-output',
        '--output-filename DIR',
        '-x NAME[=VALUE]',
        '--timeout SECONDS',
        '--node-arg ARG',
        '--launch-agent CMD',
        '--no-deadlock-detection',
        '--version',
        '--help',
      ]) {
        const matching = lines.filter((line) => line.startsWith(`  ${option}`));
        expect(matching, option).toHaveLength(1);
        expect(matching[0]!.slice(2 + option.length).trim(), option).not.toBe('');
      }
    }
  });

  it('--version prints the package version and exits 0', () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(parse('--version')).toEqual({ kind: 'exit', code: 0, stdout: `${version}\n` });
  });

  it('after the script they belong to the script', () => {
    expect(run('app.ts', '--help', '--version').scriptArgs).toEqual(['--help', '--version']);
  });
});

describe('everything together', () => {
  it('combines options', () => {
    writeHostfile('hosts-all', 'h1 slots=2\nh2 slots=2\n');
    expect(
      run(
        '-np', '8',
        '-f', 'hosts-all',
        '--oversubscribe',
        '--tag-output',
        '--output-filename', 'logs',
        '-x', 'A=1',
        '--timeout', '30',
        '--node-arg', '--enable-source-maps',
        '--launch-agent', 'rsh',
        '--no-deadlock-detection',
        '--ranks', 'processes',
        '--profile', '--trace', 'out/t.json.gz', '--comm-matrix', 'm.svg',
        'sub/nested.ts', 'in.txt', '-v',
      ),
    ).toEqual({
      np: 8,
      script: join(cwd, 'sub', 'nested.ts'),
      scriptArgs: ['in.txt', '-v'],
      oversubscribe: true,
      tagOutput: true,
      outputFilename: join(cwd, 'logs'),
      env: { A: '1' },
      timeoutSeconds: 30,
      nodeArgs: ['--enable-source-maps'],
      hosts: [
        { host: 'h1', slots: 2 },
        { host: 'h2', slots: 2 },
      ],
      launchAgent: 'rsh',
      deadlockDetection: false,
      ranks: 'processes',
      observe: { profile: join(cwd, 'logs'), trace: join(cwd, 'out', 't.json.gz'), matrix: join(cwd, 'm.svg') },
    } satisfies LaunchOptions);
  });
});
