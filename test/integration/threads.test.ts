// Ranks as threads of one process (tsmpirun --ranks threads): what a program can notice of it, each as
// documented (README "Ranks as threads or processes"), and the guarantees it keeps (test/fixtures/threads/behave.ts).
// The rest of the integration suite runs in this mode too (vitest.config.ts, project "threads").
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { assertNothingLeft, disposeAllJobs, fixture, linesOf, runJob, startJob } from '../helpers/job.js';
import { cmdlineOf, environOf } from '../fixtures/failure/proc.js';

afterAll(disposeAllJobs);

/** The titles of the first `count` workers the inspector at `url` reports (NodeWorker domain). */
function workerTitles(url: string, count: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const titles: string[] = [];
    const socket = new WebSocket(url);
    const timer = setTimeout(() => { socket.terminate(); reject(new Error(`the inspector reported ${titles.length} of ${count} workers: ${titles.join(', ')}`)); }, 20_000);
    socket.on('open', () => socket.send(JSON.stringify({ id: 1, method: 'NodeWorker.enable', params: { waitForDebuggerOnStart: false } })));
    socket.on('error', (e) => { clearTimeout(timer); reject(e); });
    socket.on('message', (data) => {
      const message = JSON.parse(String(data)) as { method?: string; params?: { workerInfo: { title: string } } };
      if (message.method !== 'NodeWorker.attachedToWorker') return;
      titles.push(message.params!.workerInfo.title);
      if (titles.length === count) {
        clearTimeout(timer);
        socket.close();
        resolve(titles);
      }
    });
  });
}

const BEHAVE = fixture('threads/behave.ts');
const THREADS = ['--ranks', 'threads'];

function run(np: number, args: string[], launcherArgs: string[] = []) {
  return runJob({ np, script: BEHAVE, args, launcherArgs: [...THREADS, ...launcherArgs], timeoutMs: 60_000 });
}

describe('ranks as threads of one process', () => {
  it('every rank is a worker thread of the same process', async () => {
    const r = await run(4, ['where']);
    await assertNothingLeft(r);
    expect(r.code, r.stderr).toBe(0);
    const where = linesOf(r.stdout).filter((l) => l.startsWith('WHERE '));
    expect(where.length).toBe(4);
    const pids = new Set(where.map((l) => /pid=(\d+)/.exec(l)![1]));
    expect(pids.size, r.stdout).toBe(1);
    for (const l of where) expect(l).toMatch(/main=false$/);
  });

  it('process.exit(n) ends that rank with n, and the job with it', async () => {
    const r = await run(3, ['exit']);
    await assertNothingLeft(r);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/rank 1 exited with code 3/);
    expect(r.stdout).not.toMatch(/UNEXPECTED/);
  });

  it('process.chdir fails with a clear error', async () => {
    const r = await run(2, ['chdir']);
    await assertNothingLeft(r);
    expect(r.code, r.stderr).toBe(0);
    for (const rank of [0, 1]) {
      expect(r.stdout).toMatch(new RegExp(`^CHDIR rank=${rank} TSMPI_ERR_ARG .*not available to a rank running as a thread.*--ranks processes`, 'm'));
    }
  });

  it('process.env is each rank\'s own', async () => {
    const r = await run(3, ['env']);
    await assertNothingLeft(r);
    expect(r.code, r.stderr).toBe(0);
    for (const rank of [0, 1, 2]) expect(linesOf(r.stdout)).toContain(`ENV rank=${rank} ${rank}`);
  });

  it('a rank that spins on the CPU does not hold back what it printed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsmpi-spin-'));
    const flag = join(dir, 'go');
    try {
      const job = startJob({ np: 2, script: BEHAVE, args: ['spin', flag], launcherArgs: THREADS, timeoutMs: 60_000 });
      // The line must arrive while rank 1 still spins: only then is the flag made that ends the spin.
      await job.waitForLine('SPINNING');
      writeFileSync(flag, '');
      const r = await job.result;
      expect(r.code, job.describe(r)).toBe(0);
      expect(linesOf(r.stdout).filter((l) => l.startsWith('DONE')).length).toBe(2);
      await assertNothingLeft(job);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--node-arg=--inspect opens one inspector, in which every rank is a worker named "rank R"', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsmpi-inspect-'));
    const flag = join(dir, 'go');
    try {
      const job = startJob({ np: 2, script: BEHAVE, args: ['hold', flag], launcherArgs: [...THREADS, '--node-arg=--inspect=127.0.0.1:0'], timeoutMs: 60_000 });
      const listening = await job.waitForLine(/Debugger listening on ws:\/\//, { stream: 'stderr' });
      await job.waitForLines(/^HOLDING rank=/, 2);
      const titles = await workerTitles(/ws:\/\/\S+/.exec(listening.text)![0], 2);
      writeFileSync(flag, '');
      const r = await job.result;
      expect(r.code, job.describe(r)).toBe(0);
      expect(linesOf(r.stderr).filter((l) => l.startsWith('Debugger listening'))).toHaveLength(1);
      expect(titles.sort()).toEqual([expect.stringMatching(/ rank 0$/), expect.stringMatching(/ rank 1$/)]);
      await assertNothingLeft(job);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('tsmpirun reaps the process of rank threads: the ranks\' CPU time counts as its children\'s, as `time tsmpirun` shows', async () => {
    // This test process's children's CPU (cutime + cstime of /proc/self/stat, in ticks): tsmpirun's,
    // and through it that of every process it waited for. Tests of one file run one after another.
    const childrenCpuMs = () => {
      const fields = readFileSync('/proc/self/stat', 'latin1').split(') ')[1]!.split(' ');
      return (Number(fields[13]) + Number(fields[14])) * 10;
    };
    const before = childrenCpuMs();
    const r = await run(2, ['cpu', '400']);
    const used = childrenCpuMs() - before;
    await assertNothingLeft(r);
    expect(r.code, r.stderr).toBe(0);
    expect(linesOf(r.stdout).filter((l) => l.startsWith('CPU ')).length, r.stdout).toBe(2);
    expect(used, `children's CPU ${used} ms for two ranks that each used 400 ms`).toBeGreaterThanOrEqual(800);
  });

  it('a rank thread reuses the memory of the large objects it received (one malloc arena): no page fault per 16 MiB message', async () => {
    // With glibc's arena per thread, most messages land in memory touched for the first time: the median
    // window measured 213-413 minor faults per message here (16 MiB: 4096 pages, or 8 huge pages), and
    // 1.3-1.7 with one arena (the rest is the process's own noise: windows of 0 to 6 on an idle machine).
    const r = await run(2, ['faults']);
    await assertNothingLeft(r);
    expect(r.code, r.stderr).toBe(0);
    const line = linesOf(r.stdout).find((l) => l.startsWith('FAULTS '));
    expect(line, r.stdout).toBeDefined();
    const perMessage = Number(/per-message=([\d.]+)/.exec(line!)![1]);
    expect(perMessage, line).toBeLessThanOrEqual(16);
  });

  it('writes to descriptors 1 and 2 reach the rank\'s own output', async () => {
    const r = await run(3, ['fd'], ['--tag-output']);
    await assertNothingLeft(r);
    expect(r.code, r.stderr).toBe(0);
    for (const rank of [0, 1, 2]) {
      expect(linesOf(r.stdout)).toContain(`[${rank}] FD rank=${rank}`);
      expect(linesOf(r.stderr)).toContain(`[${rank}] FD2 rank=${rank}`);
    }
  });

  it('a rank that runs out of memory ends the job with status 134, naming the rank', async () => {
    const r = await run(2, ['oom'], ['--node-arg=--max-old-space-size=64']);
    await assertNothingLeft(r);
    expect(r.code, r.stderr).toBe(134);
    expect(r.stderr).toMatch(/rank 1\] ran out of memory/);
  });

  it('the rank\'s own timers run while it waits for a message', async () => {
    const r = await run(2, ['timer']);
    await assertNothingLeft(r);
    expect(r.code, r.stderr).toBe(0);
    expect(linesOf(r.stdout)).toContain('TIMER fired-while-waiting');
  });

  it('a polling loop of test() calls completes', async () => {
    const r = await run(2, ['test']);
    await assertNothingLeft(r);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^POLLED rank=0 polls=\d+ value=polled$/m);
  });

  it('the job secret is in no command line or environment of the process of rank threads', async () => {
    const job = startJob({ np: 2, script: fixture('failure/secure.ts'), launcherArgs: THREADS, keepStdinOpen: true, timeoutMs: 60_000 });
    const ready = await job.waitForLines(/^READY rank=\d+ /, 2);
    const pid = Number(/pid=(\d+)/.exec(ready[0]!.text)![1]);
    const cmdline = cmdlineOf(pid).join(' ');
    expect(cmdline).toContain('thread-host');
    const env = environOf(pid);
    expect([...env.keys()].filter((k) => /SECRET/i.test(k))).toEqual([]);
    for (const value of [cmdline, ...env.values()]) expect(value).not.toMatch(/[0-9a-f]{64}/);
    job.child.stdin!.end('go\n');
    const r = await job.result;
    expect(r.code, job.describe(r)).toBe(0);
    await assertNothingLeft(job);
  });
});
