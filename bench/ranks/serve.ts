// The command loop of the benchmark programs (ranks/p2p.ts, ranks/coll.ts): rank 0 reads one JSON
// command per line on its stdin (the driver's), every rank gets it by bcast (not timed) and runs it,
// and rank 0 prints `RESULT {json}`. A quit command, or the end of stdin, ends the loop on every rank.
import { createInterface } from 'node:readline';
import { COMM_WORLD as comm } from 'tsmpi';

export async function serveCommands<C>(isQuit: (cmd: C) => boolean, run: (cmd: C) => Promise<unknown>): Promise<void> {
  const lines = comm.rank === 0 ? createInterface({ input: process.stdin })[Symbol.asyncIterator]() : undefined;
  for (;;) {
    let cmd: C | null = null;
    if (lines) {
      const next = await lines.next();
      if (!next.done) cmd = JSON.parse(next.value) as C;
    }
    cmd = await comm.bcast(cmd, 0);
    if (cmd === null || isQuit(cmd)) break;
    const result = await run(cmd);
    if (comm.rank === 0) process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  }
  if (lines) process.stdin.destroy();
}
