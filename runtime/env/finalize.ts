// The end of a rank: finalize(), explicit or implicit once the program's code is done (the event loop
// ran empty). As MPI_Finalize in Open MPI and MPICH, it is a fence: no rank tears down its connections
// until every rank has finished, so a rank that is done never makes a peer fail (its last messages are
// still read, a rendezvous it started is still served, its credits still flow). While it waits, the
// rank keeps serving; a peer that still waits for something from it learns that it has finished (a FIN
// frame, or tsmpirun's notice) and fails that wait with TSMPI_ERR_PEER_FINISHED instead of hanging.
// Messages nobody received are not an error.
import type { Engine } from '../p2p/engine.js';
import { holdLoop, releaseLoop } from '../p2p/liveness.js';
import type { JobControl } from './join-pmi.js';
import type { ObserveSession } from './observe.js';

/** Installs the implicit finalize and returns the explicit one (both run the same fence once). */
export function installFinalize(engine: Engine, control: JobControl | undefined, observe?: ObserveSession): () => Promise<void> {
  let finalizing: Promise<void> | undefined;
  const finalize = (): Promise<void> => (finalizing ??= fence(engine, control, observe));
  process.once('beforeExit', () => void finalize());
  return finalize;
}

async function fence(engine: Engine, control: JobControl | undefined, observe: ObserveSession | undefined): Promise<void> {
  // The fence is work in its own right: the process stays up until it is over.
  holdLoop();
  try {
    // A recording ends with the program, and travels before the fence (env/observe.ts).
    await observe?.stop();
    const told = await engine.finish();
    observe?.handOver();
    await control?.finished(told);
    await observe?.afterFence();
  } finally {
    engine.close();
    control?.close();
    releaseLoop();
  }
}
