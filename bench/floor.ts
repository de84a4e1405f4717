// The floor: what two Node.js processes get out of the same kind of socket tsmpi uses (a Unix domain
// socket, or TCP on loopback with noDelay) with no framing, matching or serialization at all.
//
// Two processes, both forked by the benchmark driver (bench/run.ts) and told what to do over their
// IPC channel, so nothing of the control traffic is on the timed path:
//   echo   listens; counts the bytes of each incoming message until it has the whole message, then
//          writes a message of the same size back (ping-pong), or after a window of messages writes a
//          4-byte acknowledgement (streaming, as osu_bw's receiver does);
//   drive  connects, times N ping-pongs (or N windows), reports the time per iteration.
// Both read through `onread` into one preallocated buffer (no allocation per read, no 'data' events)
// and send with socket.write of one preallocated Buffer: the cheapest way Node moves bytes, so the
// floor is an honest one. The read buffer size (FLOOR_READ_BUFFER) was chosen as the fastest of
// 64 KiB … 4 MiB on the large sizes (see bench/README.md).
//
// A pair started with receive = 'deliver' is the same ping-pong, except that each side keeps what it
// receives, as every message-passing receiver must: it reads into a buffer the size of the message,
// each read where the last one ended, and answers with that buffer. Above the cache's size this costs
// memory bandwidth that the reused read buffer never pays; the bench shows it next to the floor so
// that the part of a gap no receiver could avoid is visible.
// receive = 'fresh' goes one step further, to what a receiver of objects must do: every message lands
// in a buffer allocated for it (Buffer.allocUnsafeSlow, as tsmpi's object receive does), which the echo
// side answers with and then drops, and the timing side drops on arrival. The pair runs with the glibc
// malloc settings of tsmpi's ranks (launcher/spawn/local.ts), so that both reuse freed memory alike.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withRankMallocSettings } from '../launcher/spawn/local.js';
import { WARM_SECONDS, iterationsFor, now, warmIterations } from './lib.js';

export type FloorTransport = 'unix' | 'tcp';
export type FloorMode = 'pingpong' | 'stream';
/** Where a floor process reads: one reused read buffer, or the message's own buffer (see the header). */
export type FloorReceive = 'reuse' | 'deliver' | 'fresh';

const READ_BUFFER_BYTES = Number(process.env.FLOOR_READ_BUFFER ?? 1024 * 1024);

interface ModeMsg { t: 'mode'; mode: FloorMode; size: number; window: number }
interface RunMsg { t: 'run'; mode: FloorMode; size: number; window: number; budget: number }
type ToChild = ModeMsg | RunMsg | { t: 'connect'; address: string } | { t: 'quit' };
type FromChild =
  | { t: 'address'; address: string }
  | { t: 'ready' }
  | { t: 'connected' }
  | { t: 'result'; perIteration: number; iterations: number; cpuPerIteration: number };

interface ReadState {
  onBytes: (n: number) => void;
  /** Where the next read goes ('deliver' pairs only). */
  target: () => Uint8Array;
}

/**
 * `onread` options: one preallocated buffer, or (deliver) whatever `state.target()` names before each
 * read; `state` is swapped per measurement.
 */
function readerOptions(state: ReadState, receive: FloorReceive) {
  const callback = (n: number): boolean => { state.onBytes(n); return true; };
  if (receive !== 'reuse') return { buffer: () => state.target(), callback };
  return { buffer: Buffer.allocUnsafe(READ_BUFFER_BYTES), callback };
}

function newReadState(): ReadState {
  const none = new Uint8Array(READ_BUFFER_BYTES);
  return { onBytes: () => {}, target: () => none };
}

function send(msg: FromChild): void {
  process.send!(msg);
}

// ------------------------------------------------------------------------------------------------
// The echo side.

function echo(transport: FloorTransport, dir: string, receive: FloorReceive): void {
  const state = newReadState();
  let socket: net.Socket | undefined;
  const server = net.createServer({ noDelay: true, pauseOnConnect: true }, (accepted) => {
    // An accepted socket cannot be given `onread` by createServer: move its handle into a socket that
    // reads into our buffer (the same thing tsmpi's transport does).
    const handle = (accepted as unknown as { _handle: unknown })._handle;
    (accepted as unknown as { _handle: unknown })._handle = null;
    socket = new net.Socket({ handle, readable: true, writable: true, onread: readerOptions(state, receive) } as net.SocketConstructorOpts);
    socket.setNoDelay(true);
    socket.on('error', () => process.exit(1));
    socket.on('close', () => process.exit(0));
    server.close();
  });
  const onListening = () => {
    const a = server.address();
    send({ t: 'address', address: typeof a === 'string' ? `unix:${a}` : `tcp:127.0.0.1:${a!.port}` });
  };
  if (transport === 'unix') server.listen(join(dir, 'floor.sock'), onListening);
  else server.listen(0, '127.0.0.1', onListening);

  process.on('message', (m: ToChild) => {
    if (m.t === 'quit') process.exit(0);
    if (m.t !== 'mode') return;
    const { mode, size, window } = m;
    let got = 0;
    if (mode === 'pingpong') {
      let reply = Buffer.alloc(size);
      state.target = () => reply.subarray(got);
      state.onBytes = (n) => {
        got += n;
        if (got < size) return;
        got -= size;
        socket!.write(reply);
        if (receive === 'fresh') reply = Buffer.allocUnsafeSlow(size);
      };
    } else {
      const ack = Buffer.alloc(4);
      const total = size * window;
      state.onBytes = (n) => {
        got += n;
        if (got < total) return;
        got -= total;
        socket!.write(ack);
      };
    }
    send({ t: 'ready' });
  });
}

// ------------------------------------------------------------------------------------------------
// The timing side.

function drive(receive: FloorReceive): void {
  const state = newReadState();
  let socket: net.Socket;

  /** Runs `n` iterations, then calls `done` with the elapsed seconds. */
  function run(mode: FloorMode, msg: Buffer, window: number, n: number, done: (seconds: number) => void): void {
    const expect = mode === 'pingpong' ? msg.length : 4;
    let got = 0;
    let left = n;
    const start = () => {
      if (mode === 'pingpong') socket.write(msg);
      else for (let i = 0; i < window; i++) socket.write(msg);
    };
    let into = receive === 'fresh' && mode === 'pingpong' ? Buffer.allocUnsafeSlow(msg.length) : msg;
    state.target = () => into.subarray(got);
    state.onBytes = (k) => {
      got += k;
      if (got < expect) return;
      got -= expect;
      if (into !== msg) into = Buffer.allocUnsafeSlow(msg.length);
      if (--left > 0) start();
      else done(now() - t0);
    };
    const t0 = now();
    start();
  }

  process.on('message', (m: ToChild) => {
    switch (m.t) {
      case 'quit':
        process.exit(0);
        break;
      case 'connect': {
        const opts = m.address.startsWith('unix:')
          ? { path: m.address.slice(5) }
          : { host: '127.0.0.1', port: Number(m.address.split(':').pop()) };
        socket = net.connect({ ...opts, noDelay: true, onread: readerOptions(state, receive) } as net.NetConnectOpts, () => send({ t: 'connected' }));
        socket.on('error', () => process.exit(1));
        break;
      }
      case 'run': {
        const msg = Buffer.alloc(m.size, 1);
        const warm = warmIterations(m.size);
        const warmStart = now();
        const warmBatch = (batchSeconds: number) => {
          if (now() - warmStart < WARM_SECONDS) {
            run(m.mode, msg, m.window, warm, warmBatch);
            return;
          }
          const n = iterationsFor(m.size, batchSeconds / warm, m.budget);
          const cpu0 = process.cpuUsage();
          run(m.mode, msg, m.window, n, (seconds) => {
            const cpu = process.cpuUsage(cpu0);
            send({ t: 'result', perIteration: seconds / n, iterations: n, cpuPerIteration: (cpu.user + cpu.system) / 1e6 / n });
          });
        };
        run(m.mode, msg, m.window, warm, warmBatch);
        break;
      }
      default:
        break;
    }
  });
}

// ------------------------------------------------------------------------------------------------
// The driver's handle on a floor pair.

function request<T extends FromChild['t']>(child: ChildProcess, msg: ToChild | undefined, reply: T): Promise<Extract<FromChild, { t: T }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: FromChild) => {
      if (m.t !== reply) return;
      cleanup();
      resolve(m as Extract<FromChild, { t: T }>);
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`floor process exited (${code}) while waiting for '${reply}'`));
    };
    const cleanup = () => {
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
    if (msg) child.send(msg);
  });
}

export class FloorPair {
  private constructor(
    readonly transport: FloorTransport,
    private readonly echoSide: ChildProcess,
    private readonly driveSide: ChildProcess,
    private readonly dir: string,
  ) {}

  static async start(transport: FloorTransport, receive: FloorReceive = 'reuse'): Promise<FloorPair> {
    const self = fileURLToPath(import.meta.url);
    const dir = mkdtempSync(join(tmpdir(), 'tsmpi-floor-'));
    const env = receive === 'fresh' ? withRankMallocSettings(process.env) : process.env;
    const opts = { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] as ('ignore' | 'inherit' | 'ipc')[], env };
    const echoSide = fork(self, ['echo', transport, dir, receive], opts);
    const { address } = await request(echoSide, undefined, 'address');
    const driveSide = fork(self, ['drive', receive], opts);
    await request(driveSide, { t: 'connect', address }, 'connected');
    return new FloorPair(transport, echoSide, driveSide, dir);
  }

  /** Seconds per iteration: a round trip (pingpong) or a window of `window` messages plus an ack (stream). */
  async measure(mode: FloorMode, size: number, window: number, budget: number): Promise<number> {
    return (await this.measureWithCpu(mode, size, window, budget)).perIteration;
  }

  /** measure(), and the CPU seconds the timing side spent per iteration. */
  async measureWithCpu(mode: FloorMode, size: number, window: number, budget: number): Promise<{ perIteration: number; cpuPerIteration: number }> {
    await request(this.echoSide, { t: 'mode', mode, size, window }, 'ready');
    return request(this.driveSide, { t: 'run', mode, size, window, budget }, 'result');
  }

  close(): void {
    for (const c of [this.driveSide, this.echoSide]) {
      if (c.connected) c.send({ t: 'quit' });
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// Entry point of the forked processes.
if (process.argv[1] === fileURLToPath(import.meta.url) && process.send) {
  // The driver went away (crashed, interrupted): so do we.
  process.on('disconnect', () => process.exit(0));
  const role = process.argv[2];
  if (role === 'echo') echo(process.argv[3] as FloorTransport, process.argv[4]!, process.argv[5] as FloorReceive);
  else if (role === 'drive') drive(process.argv[3] as FloorReceive);
}
