// Point-to-point measurements of tsmpi, run by the benchmark driver as `tsmpirun -np 2` and told what
// to measure one command at a time on rank 0's stdin (one JSON object per line), so that the driver
// can interleave every measurement with the floor's. Rank 0 shares each command with rank 1 by bcast
// (not timed), both warm up, rank 0 sizes the timed run from the warm-up (bench/lib.ts, the same rule
// the floor uses) and prints `RESULT {json}`; `{"kind":"quit"}` ends the job.
//
// kinds:  typed   Send/Recv ping-pong of a Uint8Array of `size` bytes          → seconds per round trip
//         object  send/recv ping-pong of a Uint8Array as an object (the peer echoes what it received)
//         objf64  send/recv ping-pong of { data: Float64Array(size / 8), step, name }
//         stream  osu_bw: `window` Isends then waitall, a 4-byte ack back     → seconds per window
//         timer   rank 0 arms a `timer`-second setTimeout and waits in a Recv that rank 1 completes
//                 `release` seconds later, `count` times → the timer's actual delay (median, max):
//                 whether a rank that waits for a message still runs its timers on time
//         late    rank 0 waits in a Recv of 8 bytes that rank 1 sends after computing for `release`
//                 seconds, `count` times → the time from the Send call to the Recv's completion
//                 (median, max): what waking a rank that gave up waiting actively costs
import { setTimeout as sleep } from 'node:timers/promises';
import { COMM_WORLD as comm, Request, type Status } from 'tsmpi';
import { WARM_SECONDS, iterationsFor, median, now, warmIterations } from '../lib.js';
import { serveCommands } from './serve.js';

export interface P2pCommand {
  kind: 'typed' | 'object' | 'objf64' | 'stream' | 'timer' | 'late' | 'quit';
  size: number;
  window: number;
  budget: number;
  /**
   * timer: the setTimeout's delay, the time rank 1 waits before it sends, and how many times (s, s, count);
   * late: the time rank 1 computes before it sends, and how many times.
   */
  timer?: number;
  release?: number;
  count?: number;
}

const peer = 1 - comm.rank;
const TAG = 1, ACK_TAG = 2, CTL_TAG = 3, TIMER_TAG = 4, LATE_TAG = 5;

type Body = (n: number) => Promise<void>;

function bodies(cmd: P2pCommand): Body {
  const { size, window } = cmd;
  switch (cmd.kind) {
    case 'typed': {
      const buf = new Uint8Array(size);
      return comm.rank === 0
        ? async (n) => { for (let i = 0; i < n; i++) { await comm.Send(buf, peer, TAG); await comm.Recv(buf, peer, TAG); } }
        : async (n) => { for (let i = 0; i < n; i++) { await comm.Recv(buf, peer, TAG); await comm.Send(buf, peer, TAG); } };
    }
    case 'object':
    case 'objf64': {
      const value = cmd.kind === 'object'
        ? new Uint8Array(size)
        : { data: new Float64Array(size / 8), step: 1, name: 'field' };
      return comm.rank === 0
        ? async (n) => { for (let i = 0; i < n; i++) { await comm.send(value, peer, TAG); await comm.recv(peer, TAG); } }
        : async (n) => { for (let i = 0; i < n; i++) { const v = await comm.recv(peer, TAG); await comm.send(v, peer, TAG); } };
    }
    case 'stream': {
      const buf = new Uint8Array(size);
      const ack = new Uint8Array(4);
      const sends: Request<Status>[] = new Array(window);
      const recvs: Request<Status>[] = new Array(window);
      return comm.rank === 0
        ? async (n) => {
          for (let i = 0; i < n; i++) {
            for (let w = 0; w < window; w++) sends[w] = comm.Isend(buf, peer, TAG);
            await Request.waitall(sends);
            await comm.Recv(ack, peer, ACK_TAG);
          }
        }
        : async (n) => {
          for (let i = 0; i < n; i++) {
            for (let w = 0; w < window; w++) recvs[w] = comm.Irecv(buf, peer, TAG);
            await Request.waitall(recvs);
            await comm.Send(ack, peer, ACK_TAG);
          }
        };
    }
    default:
      throw new Error(`unknown kind ${cmd.kind}`);
  }
}

async function measure(cmd: P2pCommand): Promise<{ perIteration: number; iterations: number; cpuPerIteration: number } | undefined> {
  const body = bodies(cmd);
  // Warm-up in batches until WARM_SECONDS have passed (rank 0 decides; 0 = go on warming), then the
  // timed run of n iterations, n sized from the last batch.
  const warm = warmIterations(cmd.size);
  const warmStart = now();
  let n = 0;
  while (n === 0) {
    const t0 = now();
    await body(warm);
    const batch = now() - t0;
    if (comm.rank === 0) {
      n = now() - warmStart < WARM_SECONDS ? 0 : iterationsFor(cmd.size, batch / warm, cmd.budget);
      await comm.send(n, peer, CTL_TAG);
    } else {
      n = await comm.recv<number>(peer, CTL_TAG);
    }
  }
  const cpu0 = process.cpuUsage();
  const t1 = now();
  await body(n);
  const seconds = now() - t1;
  const cpu = process.cpuUsage(cpu0);
  return comm.rank === 0 ? { perIteration: seconds / n, iterations: n, cpuPerIteration: (cpu.user + cpu.system) / 1e6 / n } : undefined;
}

/**
 * The timer command: rank 0 tells rank 1 to start, arms its timer and waits in a Recv; rank 1 sends
 * `release` seconds after the start. The delay is from arming to the timer's callback, however long
 * the Recv took; `firedFirst` counts the times the timer ran before the Recv completed.
 */
async function timer(cmd: P2pCommand): Promise<{ perIteration: number; max: number; iterations: number; firedFirst: number } | undefined> {
  const delay = cmd.timer ?? 0.01, release = cmd.release ?? 0.05, count = cmd.count ?? 10;
  const buf = new Uint8Array(8);
  const delays: number[] = [];
  let firedFirst = 0;
  for (let i = 0; i < count; i++) {
    if (comm.rank === 1) {
      await comm.Recv(buf, peer, TIMER_TAG);
      await sleep(release * 1000);
      await comm.Send(buf, peer, TIMER_TAG);
      continue;
    }
    await comm.Send(buf, peer, TIMER_TAG);
    const armed = now();
    let fired = 0;
    const timerDone = new Promise<void>((resolve) => setTimeout(() => { fired = now(); resolve(); }, delay * 1000));
    await comm.Recv(buf, peer, TIMER_TAG);
    if (fired) firedFirst++;
    await timerDone;
    delays.push(fired - armed);
  }
  return comm.rank === 0 ? { perIteration: median(delays), max: Math.max(...delays), iterations: count, firedFirst } : undefined;
}

/**
 * The late command: the sender stamps the message with the monotonic clock (one for the whole host)
 * just before its Send; the receiver takes the difference when its Recv completes.
 */
async function late(cmd: P2pCommand): Promise<{ perIteration: number; max: number; iterations: number } | undefined> {
  const release = cmd.release ?? 0.002, count = cmd.count ?? 50;
  const stamp = new Float64Array(1);
  const delays: number[] = [];
  for (let i = 0; i < count; i++) {
    if (comm.rank === 1) {
      await comm.Recv(stamp, peer, CTL_TAG);
      const start = now();
      while (now() - start < release) { /* computing, as a straggler does */ }
      stamp[0] = now();
      await comm.Send(stamp, peer, LATE_TAG);
      continue;
    }
    const received = comm.Recv(stamp, peer, LATE_TAG);
    await comm.Send(stamp, peer, CTL_TAG);
    await received;
    delays.push(now() - stamp[0]!);
  }
  return comm.rank === 0 ? { perIteration: median(delays), max: Math.max(...delays), iterations: count } : undefined;
}

if (comm.size !== 2) throw new Error('bench/ranks/p2p runs on exactly 2 ranks');

await serveCommands<P2pCommand>((cmd) => cmd.kind === 'quit', (cmd) => (cmd.kind === 'timer' ? timer(cmd) : cmd.kind === 'late' ? late(cmd) : measure(cmd)));
