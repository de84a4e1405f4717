// A fake PMI server on loopback that imitates both real servers, as observed on Slurm 22.05's pmi2
// plugin and MPICH Hydra 4.0.2 (shared/research/pmi.md): reply field order, rc vs msg=success, the two
// "missing key" forms, PMI-2 length prefixes padded right (Slurm) or left (Hydra), Hydra's PMI_PORT
// initack, and the limits both enforce silently (Slurm's 1024-byte PMI-1 line, 63-byte keys, 1023-byte
// values). It records every request, so tests can check what went on the wire, and never kills anyone:
// an abort is only recorded. Used by test/unit/pmi.test.ts (the client alone) and
// test/integration/pmi-abort.test.ts (real ranks).
import net from 'node:net';
import { PMI1_REQUEST_LINE_MAX } from '../../runtime/env/pmi.js';

export type Flavor = 'slurm' | 'hydra';

export interface PmiRequest {
  readonly conn: number;
  readonly framing: 'line' | 'pmi2';
  readonly raw: string;
  readonly fields: Map<string, string>;
}

export interface FakeOptions {
  flavor: Flavor;
  size: number;
  kvsname?: string;
  /** Send each reply one byte per write, so the client sees it in many chunks. */
  dribble?: boolean;
  /** Replace the normal reply to a command (raw bytes, framing included); undefined keeps the normal one. */
  override?: (cmd: string, request: PmiRequest) => string | undefined;
}

export class FakePmiServer {
  readonly requests: PmiRequest[] = [];
  /** Things a real server would choke on or silently mangle; every test expects none. */
  readonly violations: string[] = [];
  readonly kvs = new Map<string, string>();
  private readonly server = net.createServer((socket) => this.accept(socket));
  private readonly sockets = new Set<net.Socket>();
  private fenceWaiters: Array<() => void> = [];
  private nextConn = 0;
  port = 0;

  constructor(readonly options: FakeOptions) {}

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** A client socket connected to this server. */
  async socket(): Promise<net.Socket> {
    const socket = net.connect(this.port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return socket;
  }

  private get kvsname(): string {
    return this.options.kvsname ?? (this.options.flavor === 'slurm' ? '8.0' : 'kvs_4242_0_123456_vm');
  }

  private accept(socket: net.Socket): void {
    const conn = this.nextConn++;
    this.sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('error', () => undefined);
    let buffer = '';
    let pmi2 = false;
    let awaitingInitReply = false;
    const send = (text: string): void => {
      if (!this.options.dribble) {
        socket.write(text);
        return;
      }
      let i = 0;
      const step = (): void => {
        if (i < text.length && !socket.destroyed) {
          socket.write(text[i++]!);
          setImmediate(step);
        }
      };
      step();
    };
    socket.on('data', (chunk) => {
      if (awaitingInitReply) this.violations.push(`conn ${conn}: bytes sent before the PMI-2 init was answered`);
      buffer += chunk.toString('latin1');
      for (;;) {
        let raw: string;
        let framing: 'line' | 'pmi2';
        // Hydra's rule: a message starting with "cmd=" is PMI-1 (newline-terminated), anything else is a
        // length-prefixed PMI-2 message. Slurm, once in PMI-2 mode, takes only length-prefixed messages.
        if (buffer.startsWith('cmd=') && !(pmi2 && this.options.flavor === 'slurm')) {
          const newline = buffer.indexOf('\n');
          if (newline === -1) return;
          raw = buffer.slice(0, newline);
          buffer = buffer.slice(newline + 1);
          framing = 'line';
          if (raw.length + 1 > PMI1_REQUEST_LINE_MAX) this.violations.push(`conn ${conn}: PMI-1 line of ${raw.length + 1} bytes`);
        } else {
          if (buffer.length < 6) return;
          const prefix = buffer.slice(0, 6);
          if (!/^ *[0-9]+ *$/.test(prefix)) {
            this.violations.push(`conn ${conn}: bad length prefix ${JSON.stringify(prefix)}`);
            socket.destroy();
            return;
          }
          const length = Number(prefix.trim());
          if (buffer.length < 6 + length) return;
          raw = buffer.slice(6, 6 + length);
          buffer = buffer.slice(6 + length);
          framing = 'pmi2';
        }
        const fields = framing === 'line' ? parseLineRequest(raw) : parseFrameRequest(raw);
        const request: PmiRequest = { conn, framing, raw, fields };
        this.requests.push(request);
        const cmd = fields.get('cmd') ?? '';
        const override = this.options.override?.(cmd, request);
        if (override !== undefined) {
          send(override);
          continue;
        }
        if (cmd === 'init' && fields.get('pmi_version') === '2') {
          // Answer late, and complain if the client did not wait for the answer.
          awaitingInitReply = true;
          pmi2 = true;
          setTimeout(() => {
            awaitingInitReply = false;
            send(this.pmi1('response_to_init', { pmi_version: '2', pmi_subversion: '0' }));
          }, 30);
          continue;
        }
        if (framing === 'line') this.handlePmi1(cmd, fields, conn, send, socket);
        else this.handlePmi2(cmd, fields, send, socket);
      }
    });
  }

  private checkLimits(key: string, value: string): void {
    if (!/^[A-Za-z0-9:/._-]+$/.test(key) || !/^[A-Za-z0-9:/._-]*$/.test(value)) this.violations.push(`unsafe characters in ${key}=${value}`);
    if (key.length > 63) this.violations.push(`key of ${key.length} bytes`);
    if (value.length > 1023) this.violations.push(`value of ${value.length} bytes`);
  }

  /** A PMI-1 reply in this flavor's style: Slurm puts rc=0 first, Hydra puts it last (or leaves it out). */
  private pmi1(cmd: string, fields: Record<string, string> = {}, rc: string | null = '0'): string {
    const pairs = Object.entries(fields).map(([k, v]) => `${k}=${v}`);
    if (rc !== null) {
      if (this.options.flavor === 'slurm') pairs.unshift(`rc=${rc}`);
      else pairs.push(`rc=${rc}`);
    }
    return `cmd=${cmd} ${pairs.join(' ')}\n`.replace(' \n', '\n');
  }

  private pmi2(cmd: string, fields: Record<string, string> = {}): string {
    const pairs = Object.entries(fields).map(([k, v]) => `${k}=${v};`);
    const payload = this.options.flavor === 'slurm' ? `cmd=${cmd};rc=0;${pairs.join('')}` : `cmd=${cmd};${pairs.join('')}rc=0;`;
    const length = String(payload.length);
    return (this.options.flavor === 'slurm' ? length.padEnd(6) : length.padStart(6)) + payload;
  }

  private fence(reply: () => void): void {
    this.fenceWaiters.push(reply);
    if (this.fenceWaiters.length === this.options.size) {
      const waiters = this.fenceWaiters;
      this.fenceWaiters = [];
      for (const w of waiters) w();
    }
  }

  private handlePmi1(cmd: string, f: Map<string, string>, conn: number, send: (t: string) => void, socket: net.Socket): void {
    const hydra = this.options.flavor === 'hydra';
    switch (cmd) {
      case 'initack':
        send(`cmd=initack\ncmd=set size=${this.options.size}\ncmd=set rank=${f.get('pmiid')}\ncmd=set debug=0\n`);
        return;
      case 'init':
        send(this.pmi1('response_to_init', { pmi_version: '1', pmi_subversion: '1' }));
        return;
      case 'get_maxes':
        send(this.pmi1('maxes', { kvsname_max: '256', keylen_max: '64', vallen_max: '1024' }, hydra ? null : '0'));
        return;
      case 'get_my_kvsname':
        send(this.pmi1('my_kvsname', { kvsname: this.kvsname }, hydra ? null : '0'));
        return;
      case 'put': {
        if (f.get('kvsname') !== this.kvsname) this.violations.push(`conn ${conn}: put to kvs ${f.get('kvsname')}`);
        this.checkLimits(f.get('key') ?? '', f.get('value') ?? '');
        this.kvs.set(f.get('key') ?? '', f.get('value') ?? '');
        send(hydra ? 'cmd=put_result rc=0 msg=success\n' : 'cmd=put_result rc=0\n');
        return;
      }
      case 'barrier_in':
        this.fence(() => send(this.pmi1('barrier_out', {}, hydra ? null : '0')));
        return;
      case 'get': {
        const key = f.get('key') ?? '';
        const value = this.kvs.get(key);
        if (value !== undefined) send(hydra ? `cmd=get_result rc=0 msg=success value=${value}\n` : `cmd=get_result rc=0 value=${value}\n`);
        else send(hydra ? `cmd=get_result rc=-1 msg=key_${key}_not_found value=unknown\n` : 'cmd=get_result rc=1\n');
        return;
      }
      case 'finalize':
        send(this.pmi1('finalize_ack', {}, hydra ? null : '0'));
        socket.end();
        return;
      case 'abort':
        return; // no reply; the launcher would kill the job
      default:
        this.violations.push(`conn ${conn}: unknown PMI-1 command ${cmd}`);
    }
  }

  private handlePmi2(cmd: string, f: Map<string, string>, send: (t: string) => void, socket: net.Socket): void {
    switch (cmd) {
      case 'fullinit': {
        if (!f.has('pmirank') || f.get('threaded') === undefined) this.violations.push('fullinit without pmirank/threaded');
        if (this.options.flavor === 'slurm' && !f.has('pmijobid')) this.violations.push('fullinit without pmijobid (Slurm needs it)');
        send(this.pmi2('fullinit-response', {
          'pmi-version': '2', 'pmi-subversion': '0', rank: f.get('pmirank') ?? '-1', size: String(this.options.size),
          appnum: '0', debugged: 'FALSE', pmiverbose: 'FALSE',
        }));
        return;
      }
      case 'kvs-put':
        this.checkLimits(f.get('key') ?? '', f.get('value') ?? '');
        this.kvs.set(f.get('key') ?? '', f.get('value') ?? '');
        send(this.pmi2('kvs-put-response'));
        return;
      case 'kvs-fence':
        this.fence(() => send(this.pmi2('kvs-fence-response')));
        return;
      case 'kvs-get': {
        const value = this.kvs.get(f.get('key') ?? '');
        send(this.pmi2('kvs-get-response', value === undefined ? { found: 'FALSE' } : { found: 'TRUE', value }));
        return;
      }
      case 'finalize':
        send(this.pmi2('finalize-response'));
        socket.end();
        return;
      case 'abort':
        return;
      default:
        this.violations.push(`unknown PMI-2 command ${cmd}`);
    }
  }
}

function parseLineRequest(raw: string): Map<string, string> {
  return new Map(raw.split(' ').filter(Boolean).map((t) => [t.slice(0, t.indexOf('=')), t.slice(t.indexOf('=') + 1)]));
}

function parseFrameRequest(raw: string): Map<string, string> {
  return new Map(raw.split(';').filter(Boolean).map((t) => [t.slice(0, t.indexOf('=')), t.slice(t.indexOf('=') + 1)]));
}
