// tsmpirun --host / --hostfile across real network stacks (issue 7, "Hosts"): test/infra/netns.sh builds three
// network-namespace hosts (10.211.0.1-3) on a bridge inside a private namespace, each with its own sshd and a
// generated key; tsmpirun runs inside host 1 and starts ranks on the others through real ssh (--launch-agent
// 'ssh -F <config>') or through `nsenter --net` (the netns-agent, what `ip netns exec` does). Ranks talk TCP
// across the bridge. Checked: output and exit status, by-slot placement, a hostfile, stdin to a remote rank 0,
// a failing remote rank's code, abort(), --timeout's report, and that nothing is left on any host — not even after tsmpirun is
// SIGKILLed — neither processes (ranks, agents, ssh clients, sshd sessions) nor directories.
//
// Every job gets its own TMPDIR, passed to the remote ranks with -x TMPDIR, so the /proc scan finds every
// process of the job on every host (the hosts share this machine's process table) and the remote ranks'
// private directories land where the check looks.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEADLINE_TRIES_TEST_TIMEOUT_MS, jsonReports, transparentHugePagesMode, withDeadlineRoomForLoad } from '../helpers/job.js';
import { checkTraceFile } from '../helpers/trace-check.js';
import {
  LAUNCHER, REPO, SETUP_TIMEOUT_MS, describeRun, infra, leftBehind, runWithTmp, skipWithoutRoot, sortedLines, startNsCluster,
  type NsCluster, type RunOptions, type RunResult,
} from '../infra/cluster.js';

const WHERE = join(REPO, 'test', 'fixtures', 'cluster', 'where.ts');
const MALLOC_PAGES = join(REPO, 'test', 'fixtures', 'p2p', 'malloc-pages.ts');
const THP_MODE = transparentHugePagesMode();
let cluster: NsCluster;
const [h1, h2, h3] = ['10.211.0.1', '10.211.0.2', '10.211.0.3'];

const skip = skipWithoutRoot(import.meta.url, 'install iproute2, openssh-server and mpich via apt, build network namespaces and start sshd in them');

beforeAll(async () => {
  cluster = await startNsCluster(3);
}, SETUP_TIMEOUT_MS);

afterAll(async () => {
  await cluster?.stop();
}, 30_000);

/** tsmpirun inside host 1 with `agent` as launch agent; `-x TMPDIR` gives every rank the job's TMPDIR. */
function tsmpirun(agent: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  return runWithTmp('nsenter', [
    `--net=/proc/${cluster.hosts[0]!.pid}/ns/net`, '--', process.execPath, LAUNCHER, '--launch-agent', agent, '-x', 'TMPDIR', ...args,
  ], options);
}

async function expectNothingLeft(r: RunResult): Promise<void> {
  expect(await leftBehind(r, { sshdPids: cluster.sshdPids }), `left behind after the job\n${describeRun('job', r)}`).toBe('');
}

const ranksLine = /^rank \d+\/\d+ on /;

describe.skipIf(skip)('ranks on other hosts', () => {
  it('ring and allreduce over ssh: 4 ranks, 2 slots on each of 2 hosts, by-slot placement', async () => {
    const r = await tsmpirun(cluster.sshAgent, ['--host', `${h1}:2,${h2}:2`, WHERE]);
    const why = describeRun('ring over ssh', r);
    expect(r.code, why).toBe(0);
    expect(sortedLines(r.stdout, ranksLine), why).toEqual([
      `rank 0/4 on ${h1} right=1 sum=6`,
      `rank 1/4 on ${h1} right=2 sum=6`,
      `rank 2/4 on ${h2} right=3 sum=6`,
      `rank 3/4 on ${h2} right=0 sum=6`,
    ]);
    await expectNothingLeft(r);
  });

  it('a rank started over ssh gets the malloc settings a local rank gets (huge pages for large buffers)', async () => {
    const r = await tsmpirun(cluster.sshAgent, ['--host', `${h1}:1,${h2}:1`, MALLOC_PAGES]);
    const why = describeRun('malloc settings over ssh', r);
    expect(r.code, why).toBe(0);
    const reports = jsonReports<{ rank: number; tunables: string | null; hugeKiB: number }>(r.stdout);
    expect(reports.map((x) => x.rank).sort(), why).toEqual([0, 1]);
    const remote = reports.find((x) => x.rank === 1)!;
    expect(remote.tunables, why).toBe('glibc.malloc.hugetlb=1');
    if (THP_MODE === 'madvise' || THP_MODE === 'always') expect(remote.hugeKiB, why).toBeGreaterThanOrEqual(32 * 1024);
    await expectNothingLeft(r);
  });

  it('--trace across hosts: ranks on another host than tsmpirun align their clock to it, the trace passes the checker', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsmpi-observe-hosts-'));
    try {
      const trace = join(dir, 'trace.json');
      const r = await tsmpirun(cluster.sshAgent, ['--trace', trace, '--comm-matrix', join(dir, 'm.svg'), '--host', `${h1}:2,${h2}:2`, WHERE]);
      const why = describeRun('trace over ssh', r);
      expect(r.code, why).toBe(0);
      const check = checkTraceFile(trace);
      expect(check.problems, why).toEqual([]);
      const messages = readFileSync(join(dir, 'm.csv'), 'utf8').trim().split('\n').slice(1).reduce((n, l) => n + Number(l.split(',')[3]), 0);
      expect(check.arrows.length).toBe(messages);
      // Ranks 2 and 3 run on h2 (another network namespace, so another host to tsmpirun): two measurements each, at
      // join and at finalize; the namespaces share this machine's clock, so the offsets are small.
      const clocks = new Map(check.otherData.clocks as [number, [number, number, number][]][]);
      expect([...clocks.keys()].sort()).toEqual([2, 3]);
      for (const samples of clocks.values()) {
        expect(samples).toHaveLength(2);
        for (const [, offset] of samples) expect(Math.abs(offset)).toBeLessThan(50);
      }
      await expectNothingLeft(r);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a hostfile, -np beyond the slots with --oversubscribe (wraps around), every rank remote, over ssh', async () => {
    const hostfile = join(cluster.dir, 'hostfile');
    writeFileSync(hostfile, `# two hosts\n${h2} slots=1\n${h3} slots=2\n`);
    const r = await tsmpirun(cluster.sshAgent, ['--hostfile', hostfile, '-np', '5', '--oversubscribe', WHERE]);
    const why = describeRun('hostfile', r);
    expect(r.code, why).toBe(0);
    // by slot: h2 (1 slot), h3, h3, then around again: h2, h3
    expect(sortedLines(r.stdout, ranksLine), why).toEqual([
      `rank 0/5 on ${h2} right=1 sum=10`,
      `rank 1/5 on ${h3} right=2 sum=10`,
      `rank 2/5 on ${h3} right=3 sum=10`,
      `rank 3/5 on ${h2} right=4 sum=10`,
      `rank 4/5 on ${h3} right=0 sum=10`,
    ]);
    await expectNothingLeft(r);
  });

  it('-np defaults to the slots; stdin reaches a remote rank 0 (through ssh, framed)', async () => {
    const input = Array.from({ length: 20_000 }, (_, i) => `line ${i + 1}`).join('\n') + '\n';
    const r = await tsmpirun(cluster.sshAgent, ['--host', `${h2}:2,${h3}`, WHERE, 'stdin'], { stdin: input });
    const why = describeRun('stdin', r);
    expect(r.code, why).toBe(0);
    expect(sortedLines(r.stdout, /^rank /), why).toEqual([0, 1, 2].map((rank) => `rank ${rank}/3 got ${input.length} bytes, last line line 20000`));
    await expectNothingLeft(r);
  });

  it('a failing remote rank: its exit code is the job\'s, the other ranks are ended, nothing is left', async () => {
    const r = await tsmpirun(cluster.sshAgent, ['--host', `${h1}:2,${h2}:2`, WHERE, 'fail', '3', '7']);
    const why = describeRun('failing rank', r);
    expect(r.code, why).toBe(7);
    expect(r.stderr, why).toContain('rank 3 exited with code 7');
    expect(sortedLines(r.stdout, ranksLine).length, why).toBe(4);
    await expectNothingLeft(r);
  });

  it('abort(5) on a remote rank through a launch agent that is not ssh (nsenter into the host)', async () => {
    const r = await tsmpirun(cluster.netnsAgent, ['--host', `${h2}:2,${h3}:2`, WHERE, 'abort', '2', '5']);
    const why = describeRun('abort via netns-agent', r);
    expect(r.code, why).toBe(5);
    expect(r.stderr, why).toContain('rank 2 called abort(5)');
    expect(sortedLines(r.stdout, ranksLine).length, why).toBe(4);
    await expectNothingLeft(r);
  });

  it('--timeout reports what every rank, local and remote, is blocked in, and ends the job with 124', async () => {
    await withDeadlineRoomForLoad(async (timeoutS, lastTry) => {
      const r = await tsmpirun(cluster.sshAgent, ['--timeout', String(timeoutS), '--host', `${h1},${h2}:2,${h3}`, WHERE, 'hang']);
      const why = describeRun('--timeout across hosts', r);
      // The report is the evidence that every rank was in its blocking call when the deadline fired (a
      // rank's "ready" line, relayed through ssh, can reach us after the report on a loaded machine).
      const blockedLine = (rank: number) => `rank ${rank}: blocked in recv on COMM_WORLD from rank ${(rank + 1) % 4}, tag 99`;
      const allBlocked = [0, 1, 2, 3].every((rank) => r.stderr.includes(blockedLine(rank)));
      if (!allBlocked && !lastTry && r.code === 124) { await expectNothingLeft(r); return 'ranks not ready in time'; }
      expect(sortedLines(r.stdout, /^ready \d$/), why).toEqual(['ready 0', 'ready 1', 'ready 2', 'ready 3']);
      expect(r.code, why).toBe(124);
      for (let rank = 0; rank < 4; rank++) expect(r.stderr, why).toContain(blockedLine(rank));
      await expectNothingLeft(r);
      return 'checked';
    });
  }, DEADLINE_TRIES_TEST_TIMEOUT_MS);

  it.each([['ssh', () => cluster.sshAgent], ['netns-agent', () => cluster.netnsAgent]] as const)(
    'tsmpirun SIGKILLed while ranks run on 3 hosts (%s): nothing is left on any host',
    async (_name, agent) => {
      const r = await tsmpirun(agent(), ['--host', `${h1},${h2}:2,${h3}`, WHERE, 'hang'], {
        killOnLine: (_line, lines) => lines.filter((l) => l.startsWith('ready ')).length === 4,
      });
      const why = describeRun('SIGKILLed tsmpirun', r);
      expect(r.signal, why).toBe('SIGKILL');
      expect(sortedLines(r.stdout, /^ready /), why).toEqual(['ready 0', 'ready 1', 'ready 2', 'ready 3']);
      await expectNothingLeft(r);
    },
  );
});

// The PMI bootstrap across hosts: MPICH's Hydra starts its proxies on the namespace hosts through the
// netns-agent (-launcher-exec), each proxy starts its tasks (tsmpirun as a PMI task), and the ranks find each
// other through Hydra's key-value store: abstract Unix sockets between ranks of one host, TCP between hosts
// (each rank publishes the address of its own host's interface).
// Under load these jobs used to hang (1 in 10 in full test runs; 2 of 4 with two busy loops running): a
// rank learns the job secret after the fence, so a quicker peer's proof failed against its placeholder
// and the message behind the proof was lost. test/unit/transport-secret.test.ts covers the fix; a hung
// run is still ended after 20 s, with its output. The failing-rank job also exited 1 instead of the
// rank's 4 in 3-4 of 40 runs under load: the other ranks' PMI aborts replaced its code (Hydra exits
// with the last abort it reads); they send none now (test/integration/pmi-abort.test.ts).
describe.skipIf(skip)('PMI across hosts: mpiexec.hydra over the namespace hosts', () => {
  beforeAll(async () => { await infra('mpich.sh', []); }, SETUP_TIMEOUT_MS);

  const hydra = (args: string[]): Promise<RunResult> => runWithTmp('nsenter', [
    `--net=/proc/${cluster.hosts[0]!.pid}/ns/net`, '--', 'mpiexec.hydra', '-launcher', 'ssh', '-launcher-exec', cluster.netnsAgent,
    '-localhost', h1, '-hosts', `${h2}:2,${h3}:2`, '-n', '4', join(REPO, 'node_modules', '.bin', 'tsmpirun'), WHERE, ...args,
  ], { timeoutMs: 20_000 });

  it('ring and allreduce: 2 ranks on each of 2 hosts', async () => {
    const r = await hydra([]);
    const why = describeRun('hydra across hosts', r);
    expect(r.code, why).toBe(0);
    expect(sortedLines(r.stdout, ranksLine), why).toEqual([
      `rank 0/4 on ${h2} right=1 sum=6`,
      `rank 1/4 on ${h2} right=2 sum=6`,
      `rank 2/4 on ${h3} right=3 sum=6`,
      `rank 3/4 on ${h3} right=0 sum=6`,
    ]);
    await expectNothingLeft(r);
  });

  it('--trace through the twins: rank 0 aligns the clocks of the ranks on the other host over the data plane', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsmpi-observe-hydra-'));
    try {
      const trace = join(dir, 'trace.json');
      const r = await runWithTmp('nsenter', [
        `--net=/proc/${cluster.hosts[0]!.pid}/ns/net`, '--', 'mpiexec.hydra', '-launcher', 'ssh', '-launcher-exec', cluster.netnsAgent,
        '-localhost', h1, '-hosts', `${h2}:2,${h3}:2`, '-n', '4', '-genv', 'TSMPI_TRACE', trace, join(REPO, 'node_modules', '.bin', 'tsmpirun'), WHERE,
      ], { timeoutMs: 20_000 });
      const why = describeRun('hydra trace across hosts', r);
      expect(r.code, why).toBe(0);
      const check = checkTraceFile(trace);
      expect(check.problems, why).toEqual([]);
      expect(check.arrows.length).toBeGreaterThan(0);
      const clocks = new Map(check.otherData.clocks as [number, [number, number, number][]][]);
      expect([...clocks.keys()].sort(), why).toEqual([2, 3]);
      await expectNothingLeft(r);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a failing rank ends the job with its code', async () => {
    const r = await hydra(['fail', '3', '4']);
    const why = describeRun('hydra across hosts, failing rank', r);
    expect(r.code, why).toBe(4);
    expect(sortedLines(r.stdout, ranksLine).length, why).toBe(4);
    await expectNothingLeft(r);
  });
});
