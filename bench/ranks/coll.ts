// Collective measurements of tsmpi, run by the benchmark driver as `tsmpirun -np P` and told what to
// measure one command at a time on rank 0's stdin, like ranks/p2p.ts. Every rank warms up, rank 0
// sizes the timed run from its warm-up and shares the count by bcast, all ranks start after a
// Barrier and time the same number of calls; rank 0 prints `RESULT {json}` with the mean over ranks
// of their time per call (OSU's "Avg Latency") and the max.
//
// ops:  Allreduce   Float64Array of size/8 elements, SUM, separate send and receive buffers
//       allreduce   a number (size 8) or a Float64Array of size/8 elements as an object, SUM
//       Bcast       Uint8Array of `size` bytes from root 0
//       Barrier
//       Alltoall    a Uint8Array of `size` bytes per rank, cut into comm.size blocks
//       Allgather   a block of size / comm.size bytes from every rank, `size` bytes gathered on each
//       ring        a token ring: a Uint8Array of `size` bytes (at least 8) goes once around the ranks, each
//                   rank receiving it from rank − 1 and sending it to rank + 1 (Recv/Send); reported
//                   per hop (a call is comm.size hops). The `openmpi` group's oversubscription row.
//
// Every collective runs the algorithm runtime/coll/select.ts picks, unless the job's environment forces
// one (TSMPI_COLL_<COLLECTIVE>=<algorithm>; the driver's `algorithms` group does).
import { COMM_WORLD as comm, SUM } from 'tsmpi';
import { WARM_SECONDS, iterationsFor, now, warmIterations } from '../lib.js';
import { serveCommands } from './serve.js';

export interface CollCommand {
  op: 'Allreduce' | 'allreduce' | 'Bcast' | 'Barrier' | 'Alltoall' | 'Allgather' | 'ring' | 'quit';
  size: number;
  budget: number;
}

type Body = (n: number) => Promise<void>;

function body(cmd: CollCommand): Body {
  const { size } = cmd;
  switch (cmd.op) {
    case 'Allreduce': {
      const send = new Float64Array(size / 8).fill(comm.rank + 1);
      const recv = new Float64Array(size / 8);
      return async (n) => { for (let i = 0; i < n; i++) await comm.Allreduce(send, recv, SUM); };
    }
    case 'allreduce': {
      const value = size === 8 ? comm.rank + 1 : new Float64Array(size / 8).fill(comm.rank + 1);
      return async (n) => { for (let i = 0; i < n; i++) await comm.allreduce(value, SUM); };
    }
    case 'Bcast': {
      const buf = new Uint8Array(size);
      return async (n) => { for (let i = 0; i < n; i++) await comm.Bcast(buf, 0); };
    }
    case 'Barrier':
      return async (n) => { for (let i = 0; i < n; i++) await comm.Barrier(); };
    case 'Alltoall': {
      const block = Math.floor(size / comm.size);
      const send = new Uint8Array(block * comm.size), recv = new Uint8Array(block * comm.size);
      return async (n) => { for (let i = 0; i < n; i++) await comm.Alltoall(send, recv); };
    }
    case 'Allgather': {
      const block = Math.floor(size / comm.size);
      const send = new Uint8Array(block), recv = new Uint8Array(block * comm.size);
      return async (n) => { for (let i = 0; i < n; i++) await comm.Allgather(send, recv); };
    }
    case 'ring': {
      const token = new Uint8Array(Math.max(size, 8));
      const left = (comm.rank - 1 + comm.size) % comm.size, right = (comm.rank + 1) % comm.size;
      return comm.rank === 0
        ? async (n) => { for (let i = 0; i < n; i++) { await comm.Send(token, right, 1); await comm.Recv(token, left, 1); } }
        : async (n) => { for (let i = 0; i < n; i++) { await comm.Recv(token, left, 1); await comm.Send(token, right, 1); } };
    }
    default:
      throw new Error(`unknown op ${cmd.op}`);
  }
}

async function measure(cmd: CollCommand): Promise<{ perIteration: number; max: number; iterations: number } | undefined> {
  const run = body(cmd);
  const size = Math.max(cmd.size, 8);
  // Warm-up in batches until WARM_SECONDS have passed (rank 0 decides), as ranks/p2p.ts does.
  const warm = warmIterations(size);
  await comm.Barrier();
  const warmStart = now();
  let n = 0;
  while (n === 0) {
    const t0 = now();
    await run(warm);
    const batch = now() - t0;
    n = await comm.bcast(comm.rank === 0 ? (now() - warmStart < WARM_SECONDS ? 0 : iterationsFor(size, batch / warm, cmd.budget)) : 0, 0);
  }
  await comm.Barrier();
  const t1 = now();
  await run(n);
  // A ring's call is a whole trip around it: comm.size hops.
  const per = (now() - t1) / n / (cmd.op === 'ring' ? comm.size : 1);
  const all = await comm.gather(per, 0);
  if (!all) return undefined;
  return { perIteration: all.reduce((a, b) => a + b, 0) / all.length, max: Math.max(...all), iterations: n };
}

await serveCommands<CollCommand>((cmd) => cmd.op === 'quit', measure);
