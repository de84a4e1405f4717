// PMI client against a fake PMI server on loopback that imitates both real servers
// (test/helpers/fake-pmi-server.ts). The fake records every request so tests can check what went on the wire.
// Plus the pure parts: reply parsers (with a seeded fuzz: only TsmpiError may escape), key/value encoding.
import { afterEach, describe, expect, it } from 'vitest';
import { FakePmiServer, type FakeOptions, type Flavor } from '../helpers/fake-pmi-server.js';
import { isTsmpiError, type TsmpiErrorCode } from '../../runtime/errors.js';
import {
  choosePmiDialect,
  connectPmi,
  decodeStoredValue,
  detectPmiLauncher,
  encodeForPut,
  encodePmiKey,
  joinChunks,
  openPmiClient,
  parsePmi1Line,
  parsePmi2Payload,
  PMI_REPLY_MAX,
  PmiReplyReader,
  type PmiClient,
  type PmiDialect,
} from '../../runtime/env/pmi.js';

async function expectTsmpiError(work: Promise<unknown> | (() => unknown), code: TsmpiErrorCode): Promise<void> {
  try {
    await (typeof work === 'function' ? work() : work);
  } catch (error) {
    if (!isTsmpiError(error, code)) throw new Error(`expected ${code}, got ${String(error)}`);
    return;
  }
  throw new Error(`expected ${code}, but it succeeded`);
}

// ---------------------------------------------------------------------------------------------------
// Harness

const servers: FakePmiServer[] = [];
const clients: PmiClient[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  for (const server of servers.splice(0)) await server.stop();
});

async function fake(options: FakeOptions): Promise<FakePmiServer> {
  const server = await new FakePmiServer(options).start();
  servers.push(server);
  return server;
}

/** The environment each launcher gives a rank connected by descriptor. */
function rankEnv(flavor: Flavor, rank: number, size: number): NodeJS.ProcessEnv {
  return flavor === 'slurm'
    ? { PMI_RANK: String(rank), PMI_SIZE: String(size), PMI_JOBID: '8.0', SLURM_STEP_ID: '0' }
    : { PMI_RANK: String(rank), PMI_SIZE: String(size), MPI_LOCALRANKID: String(rank) };
}

async function open(server: FakePmiServer, dialect: PmiDialect, rank: number): Promise<PmiClient> {
  const { flavor, size } = server.options;
  const client = await openPmiClient(await server.socket(), {
    dialect,
    launcher: flavor,
    env: rankEnv(flavor, rank, size),
    viaPort: false,
  });
  clients.push(client);
  return client;
}

async function openAll(server: FakePmiServer, dialect: PmiDialect): Promise<PmiClient[]> {
  return Promise.all(Array.from({ length: server.options.size }, (_, r) => open(server, dialect, r)));
}

const activeTcpHandles = (): number => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;

// ---------------------------------------------------------------------------------------------------
// Parsers

describe('reply parsers', () => {
  it('parses PMI-1 replies into maps whatever the field order', () => {
    const slurm = parsePmi1Line('cmd=get_result rc=0 value=abc');
    const hydra = parsePmi1Line('cmd=get_result msg=success value=abc rc=0');
    expect(slurm.cmd).toBe('get_result');
    expect(slurm.fields.get('value')).toBe('abc');
    expect(hydra.fields.get('value')).toBe('abc');
    expect(hydra.fields.get('rc')).toBe('0');
    expect(parsePmi1Line('cmd=barrier_out  ').fields.size).toBe(1);
    expect(parsePmi1Line('cmd=x value=a=b').fields.get('value')).toBe('a=b');
  });

  it('rejects malformed PMI-1 replies with TSMPI_ERR_PROTOCOL', async () => {
    for (const garbage of ['', 'hello', 'rc=0 value=1', '=x cmd=a', 'cmd=', 'cmd=a junk']) {
      await expectTsmpiError(() => parsePmi1Line(garbage), 'TSMPI_ERR_PROTOCOL');
    }
  });

  it('parses PMI-2 payloads, with or without the final ";", unescaping ";;"', () => {
    const slurm = parsePmi2Payload('cmd=kvs-get-response;rc=0;found=TRUE;value=v1;');
    const hydra = parsePmi2Payload('cmd=kvs-get-response;found=TRUE;value=v1;rc=0;');
    expect([slurm.fields.get('value'), hydra.fields.get('value')]).toEqual(['v1', 'v1']);
    expect(parsePmi2Payload('cmd=x;a=1').fields.get('a')).toBe('1');
    expect(parsePmi2Payload('cmd=x;a=p;;q;b=2;').fields.get('a')).toBe('p;q');
    expect(parsePmi2Payload('cmd=x;a=;').fields.get('a')).toBe('');
    expect(parsePmi2Payload('cmd=x;m=(vector,(0,1,4));').fields.get('m')).toBe('(vector,(0,1,4))');
  });

  it('rejects malformed PMI-2 payloads with TSMPI_ERR_PROTOCOL', async () => {
    for (const garbage of ['', ';', 'cmd', 'x=1;', 'cmd=a;b;c=1;', 'cmd=a;=1;', '=a;cmd=b;']) {
      await expectTsmpiError(() => parsePmi2Payload(garbage), 'TSMPI_ERR_PROTOCOL');
    }
  });

  it('reassembles replies split anywhere, in both framings', () => {
    const reader = new PmiReplyReader();
    const text = 'cmd=response_to_init rc=0 pmi_version=2 pmi_subversion=0\n' +
      '26    cmd=kvs-put-response;rc=0;' + '    28cmd=kvs-fence-response;rc=0;';
    const seen: string[] = [];
    for (const byte of Buffer.from(text)) {
      reader.push(Buffer.from([byte]));
      for (let m = reader.next(); m !== null; m = reader.next()) {
        seen.push(m.cmd);
        if (m.cmd === 'response_to_init') reader.framing = 'pmi2';
      }
    }
    expect(seen).toEqual(['response_to_init', 'kvs-put-response', 'kvs-fence-response']);
  });

  it('bounds line length and PMI-2 lengths', async () => {
    const lineReader = new PmiReplyReader();
    lineReader.push(Buffer.alloc(PMI_REPLY_MAX + 1, 'a'));
    await expectTsmpiError(() => lineReader.next(), 'TSMPI_ERR_PROTOCOL');
    for (const prefix of ['999999', 'abcdef', '  -5  ', '0     ', '1 2   ', '\n\n\n\n\n\n']) {
      const reader = new PmiReplyReader();
      reader.framing = 'pmi2';
      reader.push(Buffer.from(`${prefix}cmd=x;`));
      await expectTsmpiError(() => reader.next(), 'TSMPI_ERR_PROTOCOL');
    }
  });

  it('throws nothing but TsmpiError on garbage: real replies mutated and chunked at random (seeded)', () => {
    let state = 0x5eed_f00d;
    const random = (): number => {
      state = (state + 0x6d2b_79f5) >>> 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
    };
    const below = (n: number): number => Math.floor(random() * n);
    const lines = [
      'cmd=response_to_init rc=0 pmi_version=1 pmi_subversion=1\n',
      'cmd=maxes kvsname_max=256 keylen_max=64 vallen_max=1024\n',
      'cmd=get_result rc=-1 msg=key_nokey_not_found value=unknown\n',
      'cmd=barrier_out\n',
    ];
    const frames = [
      '26    cmd=kvs-put-response;rc=0;',
      '    46cmd=kvs-get-response;found=TRUE;value=v1;rc=0;',
      '38    cmd=kvs-get-response;rc=0;found=FALSE;',
    ];
    const noise = Buffer.from('cmd=;rc0123456789 \n\r-_=;;\x00\xff');
    let messages = 0;
    let errors = 0;
    for (let round = 0; round < 5000; round++) {
      const reader = new PmiReplyReader();
      reader.framing = random() < 0.5 ? 'line' : 'pmi2';
      const pool = reader.framing === 'line' ? lines : frames;
      const bytes = [...Buffer.from(Array.from({ length: 1 + below(4) }, () => pool[below(pool.length)]).join(''))];
      for (let m = below(4); m > 0; m--) {
        const at = below(bytes.length + 1);
        const byte = random() < 0.7 ? noise[below(noise.length)]! : below(256);
        if (random() < 0.4) bytes.splice(at, 1);
        else if (random() < 0.5) bytes.splice(at, 0, byte);
        else bytes[at] = byte;
      }
      const input = Buffer.from(bytes);
      try {
        for (let at = 0; at < input.length; ) {
          const step = 1 + below(16);
          reader.push(input.subarray(at, at + step));
          at += step;
          while (reader.next() !== null) messages++;
        }
      } catch (error) {
        if (!isTsmpiError(error, 'TSMPI_ERR_PROTOCOL')) throw error;
        errors++;
      }
    }
    expect(errors).toBeGreaterThan(500);
    expect(messages).toBeGreaterThan(500);
  });
});

// ---------------------------------------------------------------------------------------------------
// Encoding

describe('key and value encoding', () => {
  const capacity = (n: number) => () => n;

  it('sends safe keys verbatim and encodes the rest so that no two keys collide', () => {
    expect(encodePmiKey('addr-3')).toBe('addr-3');
    expect(encodePmiKey('a b')).toMatch(/^:[A-Za-z0-9_-]+$/);
    expect(encodePmiKey('x:y')).not.toBe('x:y');
    expect(encodePmiKey('')).toBe(':');
    const keys = ['a', 'a/1', ':YQ', 'YQ', 'é', 'a b', 'a.b', 'a;b'];
    expect(new Set(keys.map(encodePmiKey)).size).toBe(keys.length);
  });

  it('stores a short value under one key and a long one in pieces', () => {
    const short = encodeForPut('k', 'hello world; x=y', 63, capacity(1023));
    expect(short.puts).toHaveLength(1);
    const [, stored] = short.puts[0]!;
    expect(stored).toMatch(/^[A-Za-z0-9:/._-]+$/);
    expect(decodeStoredValue('k', stored)).toEqual({ kind: 'whole', value: 'hello world; x=y' });

    const value = `é中 ${'z'.repeat(5000)} ;=\n end`;
    const long = encodeForPut('addr', value, 63, capacity(100));
    expect(long.puts.length).toBeGreaterThan(50);
    for (const [key, piece] of long.puts) {
      expect(key.length).toBeLessThanOrEqual(63);
      expect(piece.length).toBeLessThanOrEqual(100);
      expect(piece).toMatch(/^[A-Za-z0-9:/._-]*$/);
    }
    const [headKey, head] = long.puts[long.puts.length - 1]!;
    expect(headKey).toBe('addr');
    const split = decodeStoredValue('addr', head);
    if (split.kind !== 'split') throw new Error('expected a split value');
    const pieces = long.puts.slice(0, -1).map(([, piece]) => piece);
    expect(pieces).toHaveLength(split.chunks);
    expect(joinChunks('addr', pieces, split.encodedLength)).toBe(value);
  });

  it('refuses keys that cannot fit, and stored values it did not write', async () => {
    await expectTsmpiError(() => encodeForPut('k'.repeat(64), 'v', 63, capacity(1023)), 'TSMPI_ERR_ARG');
    await expectTsmpiError(() => encodeForPut('k'.repeat(62), 'v'.repeat(5000), 63, capacity(1023)), 'TSMPI_ERR_ARG');
    for (const foreign of ['unknown', 'v:***', 'm:x:1', 'm:0:0', '']) {
      await expectTsmpiError(() => decodeStoredValue('k', foreign), 'TSMPI_ERR_PROTOCOL');
    }
    await expectTsmpiError(() => joinChunks('k', ['abc'], 4), 'TSMPI_ERR_PROTOCOL');
  });
});

// ---------------------------------------------------------------------------------------------------
// Environment

describe('environment', () => {
  it('has no PMI without PMI_FD or PMI_PORT', async () => {
    expect(await connectPmi({})).toBeNull();
    expect(await connectPmi({ PMI_RANK: '0', PMI_SIZE: '1' })).toBeNull();
  });

  it('tells the launchers apart, Hydra first (mpiexec inside an allocation inherits SLURM_*)', () => {
    expect(detectPmiLauncher({ PMI_FD: '3', PMI_JOBID: '8.0' })).toBe('slurm');
    expect(detectPmiLauncher({ PMI_FD: '3', MPI_LOCALRANKID: '0', SLURM_STEP_ID: '0' })).toBe('hydra');
    expect(detectPmiLauncher({ PMI_FD: '3' })).toBe('unknown');
  });

  it('defaults to PMI-1 and honours TSMPI_PMI', async () => {
    expect(choosePmiDialect({}, 'slurm')).toBe('pmi1');
    expect(choosePmiDialect({}, 'hydra')).toBe('pmi1');
    expect(choosePmiDialect({ TSMPI_PMI: 'pmi2' }, 'hydra')).toBe('pmi2');
    await expectTsmpiError(() => choosePmiDialect({ TSMPI_PMI: 'pmix' }, 'slurm'), 'TSMPI_ERR_ARG');
    await expectTsmpiError(connectPmi({ PMI_FD: 'three', PMI_RANK: '0', PMI_SIZE: '1' }), 'TSMPI_ERR_ARG');
    await expectTsmpiError(connectPmi({ PMI_PORT: 'nohostport', PMI_ID: '0' }), 'TSMPI_ERR_ARG');
  });
});

// ---------------------------------------------------------------------------------------------------
// Against the fake servers

describe.each([
  ['slurm', 'pmi1'],
  ['slurm', 'pmi2'],
  ['hydra', 'pmi1'],
  ['hydra', 'pmi2'],
] as const)('%s server, %s', (flavor, dialect) => {
  it('exchanges addresses: put, fence, get; a missing key is undefined', async () => {
    const server = await fake({ flavor, size: 4 });
    const ranks = await openAll(server, dialect);
    expect(ranks.map((c) => [c.rank, c.size, c.dialect])).toEqual([0, 1, 2, 3].map((r) => [r, 4, dialect]));
    await Promise.all(ranks.map((c) => c.put(`addr-${c.rank}`, `tcp://127.0.0.1:${4000 + c.rank}`)));
    await Promise.all(ranks.map((c) => c.fence()));
    for (const c of ranks) {
      for (let r = 0; r < 4; r++) expect(await c.get(`addr-${r}`, r)).toBe(`tcp://127.0.0.1:${4000 + r}`);
      expect(await c.get('nobody-put-this')).toBeUndefined();
    }
    await Promise.all(ranks.map((c) => c.finalize()));
    await ranks[0]!.finalize(); // idempotent
    expect(server.violations).toEqual([]);
    if (dialect === 'pmi2' && flavor === 'slurm') {
      expect(server.requests.find((r) => r.fields.get('cmd') === 'kvs-get')!.fields.get('jobid')).toBe('8.0');
    }
  });

  it('splits long values across keys and joins them, within the server limits', async () => {
    const server = await fake({ flavor, size: 2, kvsname: flavor === 'slurm' ? '8.0' : `kvs_${'h'.repeat(200)}` });
    const [a, b] = await openAll(server, dialect);
    const value = `tcp://[::1]:1234 ${'é中'.repeat(700)} ;= ${'x'.repeat(4000)}`;
    const odd = 'key with spaces; and = signs/é';
    await Promise.all([a!.put(odd, value), b!.put('short', '')]);
    await Promise.all([a!.fence(), b!.fence()]);
    expect(await b!.get(odd)).toBe(value);
    expect(await a!.get('short')).toBe('');
    expect(server.kvs.size).toBeGreaterThan(5);
    expect(server.violations).toEqual([]);
  });

  it('fails later requests once a reply is garbage (TSMPI_ERR_PROTOCOL)', async () => {
    const garbage = dialect === 'pmi1' ? 'cmd=put_result rc=0 this-is-not-a-pair\n' : '  12xxcmd=kvs-put-response;';
    const server = await fake({ flavor, size: 1, override: (cmd) => (cmd === 'put' || cmd === 'kvs-put' ? garbage : undefined) });
    const [c] = await openAll(server, dialect);
    await expectTsmpiError(c!.put('k', 'v'), 'TSMPI_ERR_PROTOCOL');
    await expectTsmpiError(c!.fence(), 'TSMPI_ERR_PROTOCOL');
  });

  it('turns rc != 0 into TSMPI_ERR_INTERN', async () => {
    const reply = dialect === 'pmi1'
      ? 'cmd=put_result rc=-1 msg=duplicate_key\n'
      : `${String('cmd=kvs-put-response;rc=3;errmsg=full;'.length).padEnd(6)}cmd=kvs-put-response;rc=3;errmsg=full;`;
    const server = await fake({ flavor, size: 1, override: (cmd) => (cmd === 'put' || cmd === 'kvs-put' ? reply : undefined) });
    const [c] = await openAll(server, dialect);
    await expectTsmpiError(c!.put('k', 'v'), 'TSMPI_ERR_INTERN');
  });

  it('reports a server that hangs up mid-request as TSMPI_ERR_PEER_LOST', async () => {
    const server = await fake({ flavor, size: 2 }); // fence never completes: only one rank
    const [c] = [await open(server, dialect, 0)];
    const fence = c!.fence();
    await new Promise((r) => setTimeout(r, 20));
    await server.stop();
    servers.splice(servers.indexOf(server), 1);
    await expectTsmpiError(fence, 'TSMPI_ERR_PEER_LOST');
  });

  it('holds the event loop only while a reply is awaited', async () => {
    const server = await fake({ flavor, size: 2 });
    const [a, b] = await openAll(server, dialect);
    const idle = activeTcpHandles();
    const fence = a!.fence();
    await new Promise((r) => setTimeout(r, 10));
    expect(activeTcpHandles()).toBe(idle + 1);
    await Promise.all([fence, b!.fence()]);
    expect(activeTcpHandles()).toBe(idle);
  });

  it('aborts with the form this server understands, failing a pending fence', async () => {
    const server = await fake({ flavor, size: 2 });
    const [a] = [await open(server, dialect, 0)];
    const fence = a!.fence();
    fence.catch(() => undefined);
    await a!.abort(7, 'rank 0: something went wrong; sorry');
    await expectTsmpiError(fence, 'TSMPI_ERR_ABORTED');
    await expectTsmpiError(a!.put('k', 'v'), 'TSMPI_ERR_ABORTED');
    await new Promise((r) => setTimeout(r, 20));
    const abort = server.requests.find((r) => r.fields.get('cmd') === 'abort')!;
    expect(abort).toBeDefined();
    if (dialect === 'pmi1' || flavor === 'hydra') {
      // Hydra 4.0 has no PMI-2 abort but reads a "cmd=" line as PMI-1 on any connection.
      expect(abort.framing).toBe('line');
      expect(abort.fields.get('exitcode')).toBe('7');
    } else {
      expect(abort.framing).toBe('pmi2');
      expect(abort.fields.get('isworld')).toBe('TRUE');
      expect(abort.fields.get('msg')).toMatch(/^[A-Za-z0-9:/._-]+$/);
    }
    await expectTsmpiError(a!.abort(300, 'x'), 'TSMPI_ERR_ARG');
  });

  it('copes with replies delivered a byte at a time', async () => {
    const server = await fake({ flavor, size: 2, dribble: true });
    const [a, b] = await openAll(server, dialect);
    await Promise.all([a!.put('x', 'y'.repeat(2000)), b!.put('z', 'w')]);
    await Promise.all([a!.fence(), b!.fence()]);
    expect(await b!.get('x')).toBe('y'.repeat(2000));
    expect(await a!.get('z')).toBe('w');
  });
});

describe('start-up', () => {
  it('Hydra -pmi-port (PMI-1): initack and the three set lines give rank and size', async () => {
    const server = await fake({ flavor: 'hydra', size: 3 });
    const env = { PMI_PORT: `127.0.0.1:${server.port}`, PMI_ID: '2', MPI_LOCALRANKID: '2' };
    const client = (await connectPmi(env))!;
    clients.push(client);
    expect([client.rank, client.size, client.dialect]).toEqual([2, 3, 'pmi1']);
    expect(server.requests[0]!.raw).toBe('cmd=initack pmiid=2');
  });

  it('Hydra -pmi-port (PMI-2): fullinit names the rank by PMI_ID', async () => {
    const server = await fake({ flavor: 'hydra', size: 3 });
    const client = (await connectPmi({ PMI_PORT: `127.0.0.1:${server.port}`, PMI_ID: '1', MPI_LOCALRANKID: '1', TSMPI_PMI: 'pmi2' }))!;
    clients.push(client);
    expect([client.rank, client.size, client.dialect]).toEqual([1, 3, 'pmi2']);
    expect(server.violations).toEqual([]);
  });

  it('PMI-2 waits for the init answer before fullinit (the fake answers 30 ms late)', async () => {
    const server = await fake({ flavor: 'slurm', size: 1 });
    await open(server, 'pmi2', 0);
    expect(server.requests.map((r) => r.fields.get('cmd'))).toEqual(['init', 'fullinit']);
    expect(server.violations).toEqual([]);
  });

  it('a server that answers PMI-2 init with version 1 is an error, not a hang', async () => {
    const server = await fake({
      flavor: 'slurm',
      size: 1,
      override: (cmd) => (cmd === 'init' ? 'cmd=response_to_init rc=0 pmi_version=1 pmi_subversion=1\n' : undefined),
    });
    await expectTsmpiError(open(server, 'pmi2', 0), 'TSMPI_ERR_INTERN');
  });

  it('missing PMI_RANK with PMI_FD-style start-up is an argument error', async () => {
    const server = await fake({ flavor: 'slurm', size: 1 });
    await expectTsmpiError(openPmiClient(await server.socket(), { dialect: 'pmi1', launcher: 'slurm', env: {}, viaPort: false }), 'TSMPI_ERR_ARG');
  });
});
