// Issue 6, "Security", in real running jobs:
//  - foreign clients on tsmpirun's control port (garbage, a wrong proof, an unauthenticated abort, a text
//    frame, an oversized frame, raw non-WebSocket bytes, a silent client) are each disconnected, and the
//    job carries on and finishes with the right output;
//  - foreign clients on a rank's data-plane listener — its TCP port (TSMPI_TRANSPORT=tcp) and its Unix
//    socket in the job directory — sending random bytes, wrong proofs, a flood, or nothing, are each
//    disconnected without being sent anything but the challenge, and the job is unharmed;
//  - the job secret appears in no command line and no environment of the job's processes (the only
//    secret-related variable is TSMPI_SECRET_FD, a descriptor number), the control URL carries no
//    credentials, listeners bind to loopback, the job directory is 0700 and removed when the job ends.
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { encodeControl } from '../../runtime/control/messages.js';
import { assertNothingLeft, disposeAllJobs, fixture, linesOf, startJob, type Job } from '../helpers/job.js';
import { cmdlineOf, environOf, isAlive, tcpListeners, unixListeners } from '../fixtures/failure/proc.js';

const SECURE = fixture('failure/secure.ts');
const NP = 3;
const MAGIC = Buffer.from('TSMPI\x00\x01\x00', 'latin1');
const CHALLENGE_BYTES = MAGIC.length + 16;
/** A stranger that proves nothing is dropped after 10 s (REGISTRATION/HANDSHAKE timeouts); some slack. */
const SILENT_LIMIT_MS = 13_000;
/** A stranger that sends something wrong must be dropped at once. */
const PROMPT_MS = 2_000;

afterEach(async () => {
  await disposeAllJobs();
});

interface Ready { rank: number; pid: number; control: string; dir: string; transport: string }

async function startSecureJob(env: Record<string, string> = {}): Promise<{ job: Job; ready: Ready[] }> {
  const job = startJob({ np: NP, script: SECURE, env, keepStdinOpen: true, timeoutMs: 90_000 });
  const lines = await job.waitForLines(/^READY rank=\d+ /, NP);
  const ready = lines.map((l) => {
    const m = /^READY rank=(\d+) pid=(\d+) control=(\S*) dir=(\S*) transport=(\S+)$/.exec(l.text);
    if (!m) throw new Error(`bad READY line ${l.text}`);
    return { rank: Number(m[1]), pid: Number(m[2]), control: m[3]!, dir: m[4]!, transport: m[5]! };
  }).sort((a, b) => a.rank - b.rank);
  return { job, ready };
}

/** Lets the job finish and checks it produced the right results, then that it left nothing behind. */
async function finishAndCheck(job: Job, ready: Ready[]): Promise<void> {
  job.child.stdin!.end('go\n');
  const result = await job.result;
  const text = job.describe(result);
  expect(result.code, text).toBe(0);
  const results = linesOf(result.stdout).filter((l) => l.startsWith('RESULT ')).sort();
  const expected = Array.from({ length: NP }, (_, r) =>
    `RESULT rank=${r} token=token-${NP} sum=${(10 * NP * (NP - 1)) / 2} ring=${((r + NP - 1) % NP) + 0.5}`);
  expect(results, text).toEqual(expected);
  expect(result.stderr, text).not.toMatch(/TSMPI_ERR|Error/);
  const dir = ready[0]!.dir;
  expect(existsSync(dir), `the job directory ${dir} outlived the job`).toBe(false);
  for (const r of ready) expect(isAlive(r.pid), `rank ${r.rank} outlived the job`).toBe(false);
  await assertNothingLeft(job);
}

// ---------------------------------------------------------------------------------------------------------
// Foreign WebSocket / TCP clients

interface Outcome { closed: boolean; ms: number; code?: number; received: number }

/** Connects a WebSocket client, lets `act` misbehave after the challenge, and waits for the server to close. */
function wsAttack(url: string, act: (ws: WebSocket, challenge: Buffer) => void, limitMs: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const started = Date.now();
    const ws = new WebSocket(url, { perMessageDeflate: false });
    let received = 0;
    let done = false;
    const finish = (o: Outcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      ws.terminate();
      resolve(o);
    };
    const timer = setTimeout(() => finish({ closed: false, ms: Date.now() - started, received }), limitMs);
    ws.on('error', () => { /* the close event follows */ });
    ws.on('message', (data: Buffer) => {
      received++;
      if (received === 1) act(ws, data);
    });
    ws.on('close', (code) => finish({ closed: true, ms: Date.now() - started, code, received }));
  });
}

/** Connects to a data-plane listener, checks the challenge, lets `act` misbehave, waits for the close. */
function socketAttack(
  target: net.NetConnectOpts, act: (s: net.Socket, challenge: Buffer) => void, limitMs: number, expectChallenge = true,
): Promise<Outcome & { challengeOk: boolean; extraBytes: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const s = net.connect(target);
    let buf = Buffer.alloc(0);
    let acted = false;
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      const challengeOk = buf.length >= CHALLENGE_BYTES && buf.subarray(0, MAGIC.length).equals(MAGIC);
      resolve({ closed, ms: Date.now() - started, received: buf.length, challengeOk, extraBytes: Math.max(0, buf.length - CHALLENGE_BYTES) });
    };
    const timer = setTimeout(() => finish(false), limitMs);
    s.on('error', () => { /* close follows */ });
    s.on('connect', () => {
      if (!expectChallenge) { acted = true; act(s, Buffer.alloc(0)); }
    });
    s.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (!acted && buf.length >= CHALLENGE_BYTES) {
        acted = true;
        act(s, buf.subarray(0, CHALLENGE_BYTES));
      }
    });
    s.on('close', () => finish(true));
  });
}

function hello(rank: number, proof: Uint8Array): Buffer {
  return encodeControl({ t: 'hello', rank, pid: 4242, address: 'unix:/tmp/evil.sock', proof });
}

const CONTROL_ATTACKS: { name: string; act: (ws: WebSocket, challenge: Buffer) => void }[] = [
  { name: 'random binary garbage', act: (ws) => ws.send(randomBytes(300)) },
  { name: 'a text frame', act: (ws) => ws.send('{"t":"hello","rank":0}') },
  { name: 'an oversized frame (2 MiB)', act: (ws) => ws.send(randomBytes(2 << 20)) },
  { name: 'hello for rank 0 with a wrong proof', act: (ws) => ws.send(hello(0, randomBytes(32))) },
  { name: 'hello for rank 1 with a wrong proof', act: (ws) => ws.send(hello(1, randomBytes(32))) },
  { name: 'hello for an absent rank with a wrong proof', act: (ws) => ws.send(hello(NP + 5, randomBytes(32))) },
  { name: 'hello with a short proof', act: (ws) => ws.send(hello(0, randomBytes(16))) },
  { name: 'hello replaying the challenge as proof', act: (ws, ch) => ws.send(hello(0, Buffer.concat([ch, ch]).subarray(0, 32))) },
  { name: 'an unauthenticated abort', act: (ws) => ws.send(encodeControl({ t: 'abort', code: 9, message: 'evil' })) },
  {
    name: 'an unauthenticated state report',
    act: (ws) => ws.send(encodeControl({ t: 'state', id: 1, ops: [], blocked: true, framesOut: 0, framesIn: 0, bytesIn: 0 })),
  },
  { name: 'a message of an unknown kind', act: (ws) => ws.send(encodeControl({ t: 'peers', addresses: [] } as never)) },
];

describe('foreign clients on the control port', () => {
  it('are each disconnected, and the job finishes with the right output', async () => {
    const { job, ready } = await startSecureJob();
    const url = ready[0]!.control;
    expect(url, 'the control URL carries no credentials, path or query').toMatch(/^ws:\/\/(127\.0\.0\.1|\[::1\]):\d+\/?$/);
    const port = Number(new URL(url).port);
    // The control server listens on loopback only.
    const listeners = tcpListeners(job.pid);
    expect(listeners.length, 'tsmpirun has a TCP listener').toBeGreaterThan(0);
    for (const l of listeners) expect(['127.0.0.1', '0:0:0:0:0:0:0:1'], `tsmpirun listens on ${l.host}:${l.port}`).toContain(l.host);

    // A silent client, started first, must be dropped after the registration timeout.
    const silent = wsAttack(url, () => { /* says nothing */ }, SILENT_LIMIT_MS);
    const rawGarbage = socketAttack({ host: '127.0.0.1', port }, (s) => s.write(randomBytes(4096)), PROMPT_MS * 3, false);
    const outcomes = await Promise.all(CONTROL_ATTACKS.map((a) => wsAttack(url, a.act, PROMPT_MS)));
    const problems: string[] = [];
    CONTROL_ATTACKS.forEach((a, i) => {
      const o = outcomes[i]!;
      if (!o.closed) problems.push(`${a.name}: still connected after ${o.ms} ms`);
      if (o.received > 1) problems.push(`${a.name}: was sent ${o.received - 1} message(s) after the challenge`);
    });
    const raw = await rawGarbage;
    if (!raw.closed) problems.push(`raw non-WebSocket bytes: still connected after ${raw.ms} ms`);
    const s = await silent;
    if (!s.closed) problems.push(`a silent client: still connected after ${s.ms} ms`);
    expect(problems, job.describe()).toEqual([]);

    // The job noticed nothing: no rank lost, nothing aborted.
    expect(job.exited, job.describe()).toBe(false);
    for (const r of ready) expect(isAlive(r.pid), `rank ${r.rank}`).toBe(true);
    await finishAndCheck(job, ready);
  }, 60_000);
});

function dataPlaneAttacks(rank: number): { name: string; act: (s: net.Socket, challenge: Buffer) => void }[] {
  const proof = (connector: number, acceptor: number, mac: Buffer) => {
    const head = Buffer.alloc(MAGIC.length + 8);
    MAGIC.copy(head);
    head.writeUInt32LE(connector, MAGIC.length);
    head.writeUInt32LE(acceptor, MAGIC.length + 4);
    return Buffer.concat([head, mac]);
  };
  const other = (rank + 1) % NP;
  return [
    { name: 'random bytes', act: (s) => s.write(randomBytes(48)) },
    { name: 'a wrong proof', act: (s) => s.write(proof(other, rank, randomBytes(32))) },
    { name: 'a proof for another acceptor', act: (s) => s.write(proof(other, other, randomBytes(32))) },
    { name: 'a connector rank out of range', act: (s) => s.write(proof(NP + 100, rank, randomBytes(32))) },
    { name: 'the challenge echoed back', act: (s, ch) => s.write(Buffer.concat([ch, ch]).subarray(0, 48)) },
    { name: 'a 4 MiB flood', act: (s) => s.write(randomBytes(4 << 20)) },
    { name: 'a wrong proof followed by a frame', act: (s) => s.write(Buffer.concat([proof(other, rank, randomBytes(32)), randomBytes(64)])) },
  ];
}

async function attackDataPlane(targets: { rank: number; target: net.NetConnectOpts }[]): Promise<string[]> {
  const problems: string[] = [];
  const silent = targets.map((t) => socketAttack(t.target, () => { /* silent */ }, SILENT_LIMIT_MS));
  const runs = targets.flatMap((t) => dataPlaneAttacks(t.rank).map((a) => ({ t, a, o: socketAttack(t.target, a.act, PROMPT_MS) })));
  for (const { t, a, o } of runs) {
    const r = await o;
    const who = `rank ${t.rank}, ${a.name}`;
    if (!r.challengeOk) problems.push(`${who}: no tsmpi challenge received (${r.received} bytes)`);
    if (r.extraBytes > 0) problems.push(`${who}: was sent ${r.extraBytes} bytes beyond the challenge`);
    if (!r.closed) problems.push(`${who}: still connected after ${r.ms} ms`);
  }
  for (const [i, p] of silent.entries()) {
    const r = await p;
    if (!r.closed) problems.push(`rank ${targets[i]!.rank}, a silent client: still connected after ${r.ms} ms`);
  }
  return problems;
}

describe('foreign clients on the ranks\' data-plane listeners', () => {
  it('TCP (TSMPI_TRANSPORT=tcp): each disconnected after the challenge, the job unharmed; listeners on loopback', async () => {
    const { job, ready } = await startSecureJob({ TSMPI_TRANSPORT: 'tcp' });
    const targets: { rank: number; target: net.NetConnectOpts }[] = [];
    for (const r of ready) {
      expect(r.transport).toBe('tcp');
      const listeners = tcpListeners(r.pid);
      expect(listeners, `rank ${r.rank} (pid ${r.pid}) has exactly one TCP listener`).toHaveLength(1);
      const l = listeners[0]!;
      expect(['127.0.0.1', '0:0:0:0:0:0:0:1'], `rank ${r.rank} listens on ${l.host}`).toContain(l.host);
      targets.push({ rank: r.rank, target: { host: l.v6 ? '::1' : '127.0.0.1', port: l.port } });
    }
    expect(await attackDataPlane(targets), job.describe()).toEqual([]);
    expect(job.exited, job.describe()).toBe(false);
    await finishAndCheck(job, ready);
  }, 60_000);

  it('Unix sockets (default): in a 0700 job directory, each stranger disconnected, the job unharmed, the directory removed', async () => {
    const { job, ready } = await startSecureJob();
    const dir = ready[0]!.dir;
    expect(dir).not.toBe('');
    const st = statSync(dir);
    expect(st.isDirectory()).toBe(true);
    expect(st.mode & 0o777, `${dir} must be 0700`).toBe(0o700);
    expect(st.uid).toBe(process.getuid!());
    const targets: { rank: number; target: net.NetConnectOpts }[] = [];
    for (const r of ready) {
      expect(r.dir).toBe(dir);
      expect(tcpListeners(r.pid), `rank ${r.rank} needs no TCP listener on one host`).toEqual([]);
      const socks = unixListeners(r.pid);
      expect(socks, `rank ${r.rank} (pid ${r.pid}) has exactly one Unix listener`).toHaveLength(1);
      expect(socks[0]!.startsWith(`${dir}/`), `rank ${r.rank}'s socket ${socks[0]} is outside the job directory`).toBe(true);
      targets.push({ rank: r.rank, target: { path: socks[0]! } });
    }
    expect(readdirSync(dir).filter((n) => n.endsWith('.sock')).sort(), `contents of ${dir}`)
      .toEqual(targets.map((t) => (t.target as { path: string }).path.slice(dir.length + 1)).sort());
    expect(await attackDataPlane(targets), job.describe()).toEqual([]);
    expect(job.exited, job.describe()).toBe(false);
    await finishAndCheck(job, ready);
    expect(existsSync(dir)).toBe(false);
  }, 60_000);
});

// ---------------------------------------------------------------------------------------------------------
// The secret stays out of command lines and environments

/** Variables tsmpirun may add to a rank's environment (beyond what the test gave tsmpirun). */
const ADDED_BY_TSMPIRUN = new Set([
  'TSMPI_CONTROL', 'TSMPI_SIZE', 'TSMPI_RANK', 'TSMPI_JOB_DIR', 'TSMPI_SCRIPT', 'TSMPI_SECRET_FD',
  // glibc malloc tuning for ranks (launcher/spawn/local.ts): numbers, no secret.
  'MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_', 'GLIBC_TUNABLES', 'MALLOC_ARENA_MAX',
  // Where NODE_EXTRA_CA_CERTS is set: a reduced certificate file in the cache, and the user's value
  // (launcher/spawn/ca-certs.ts): paths, no secret.
  'NODE_EXTRA_CA_CERTS', 'TSMPI_NODE_EXTRA_CA_CERTS',
]);
const LOOKS_SECRET = /(?:[0-9a-f]{32,})|(?:[A-Za-z0-9+/_-]{43,}={0,2})/i;

describe('the job secret', () => {
  it('is in no command line or environment of the job\'s processes; TSMPI_SECRET_FD is the only secret-related variable', async () => {
    const { job, ready } = await startSecureJob();
    const given = new Map(Object.entries({ ...process.env, TMPDIR: job.tmp }).filter(([k, v]) => v !== undefined && k !== 'NODE_OPTIONS') as [string, string][]);
    const problems: string[] = [];
    const pids = [{ who: 'tsmpirun', pid: job.pid }, ...ready.map((r) => ({ who: `rank ${r.rank}`, pid: r.pid }))];
    for (const { who, pid } of pids) {
      const argv = cmdlineOf(pid);
      if (argv.length === 0) problems.push(`${who}: cannot read /proc/${pid}/cmdline`);
      for (const arg of argv) {
        const stripped = arg.replace(/\/[^\s]*/g, ''); // paths are not secrets
        if (LOOKS_SECRET.test(stripped)) problems.push(`${who}: argv element looks like key material: ${arg}`);
        if (/secret|token|proof|nonce/i.test(stripped)) problems.push(`${who}: argv mentions a secret: ${arg}`);
      }
      const env = environOf(pid);
      if (env.size === 0) problems.push(`${who}: cannot read /proc/${pid}/environ`);
      for (const [key, value] of env) {
        const inherited = given.get(key) === value;
        if (who === 'tsmpirun') {
          if (!inherited && key !== '_') problems.push(`tsmpirun: unexpected variable ${key}`);
          continue;
        }
        if (/SECRET|TOKEN|PROOF|NONCE|KEY|PASS/i.test(key) && key !== 'TSMPI_SECRET_FD' && !given.has(key)) {
          problems.push(`${who}: secret-looking variable ${key}`);
        }
        if (key === 'TSMPI_SECRET_FD' && !/^\d{1,4}$/.test(value)) problems.push(`${who}: TSMPI_SECRET_FD=${value} is not a descriptor number`);
        if (!inherited && !ADDED_BY_TSMPIRUN.has(key)) problems.push(`${who}: unexpected variable ${key}=${value.slice(0, 80)}`);
        if (!inherited && key !== 'TSMPI_JOB_DIR' && key !== 'TSMPI_SCRIPT' && LOOKS_SECRET.test(value.replace(/\/[^\s]*/g, ''))) {
          problems.push(`${who}: ${key} looks like key material: ${value}`);
        }
      }
      if (who !== 'tsmpirun') {
        if (env.get('TSMPI_SECRET_FD') === undefined) problems.push(`${who}: no TSMPI_SECRET_FD`);
        const control = env.get('TSMPI_CONTROL') ?? '';
        if (!/^ws:\/\/(127\.0\.0\.1|\[::1\]):\d+\/?$/.test(control)) problems.push(`${who}: TSMPI_CONTROL=${control} carries more than an address`);
        // The secret descriptor was read and closed: whatever fd 3 is now, it is not the launcher's pipe.
        const secretFd = Number(env.get('TSMPI_SECRET_FD'));
        try {
          const target = readdirSync(`/proc/${pid}/fd`).includes(String(secretFd)) ? statSync(`/proc/${pid}/fd/${secretFd}`) : undefined;
          if (target?.isFIFO()) problems.push(`${who}: the secret pipe (fd ${secretFd}) is still open`);
        } catch { /* gone meanwhile */ }
      }
    }
    // Nothing in the job directory but the bundle and the sockets (no secret file).
    const dir = ready[0]!.dir;
    const files = readdirSync(dir).filter((n) => !n.endsWith('.sock') && !/^main\.[cm]js$/.test(n));
    if (files.length > 0) problems.push(`unexpected files in the job directory: ${files.join(', ')} (${files.map((f) => join(dir, f)).join(', ')})`);
    expect(problems, job.describe()).toEqual([]);
    await finishAndCheck(job, ready);
  }, 60_000);
});
