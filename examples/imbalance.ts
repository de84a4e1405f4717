// A deliberately imbalanced job, to see what --profile says about one: rank r integrates its share of a
// curve with (r + 1) times more points than rank 0 needs, then every rank joins an allreduce. The ranks
// with less work wait in the allreduce for the last one, and the profile names it.
//
//   npx tsmpirun -np 4 --profile examples/imbalance.ts [steps]
import { COMM_WORLD as comm, SUM } from 'tsmpi';

const steps = Number(process.argv[2] ?? 8);
let total = 0;
for (let step = 0; step < steps; step++) {
  // Work grows with the rank: the last rank is the straggler.
  const n = 2_000_000 * (comm.rank + 1);
  let sum = 0;
  for (let i = 0; i < n; i++) { const x = (i + 0.5) / n; sum += 4 / (1 + x * x); }
  total = await comm.allreduce(sum / n, SUM);
}
if (comm.rank === 0) console.log(`pi ≈ ${(total / comm.size).toFixed(6)} after ${steps} steps`);
