// The area under 0.7x³ − 2x² + 4 on [0, 3] as in auc.ts, summed with the typed Reduce on a
// Float64Array (no serialization). Run: tsmpirun -np 4 examples/auc-typed.ts 300000000
import { COMM_WORLD as comm, SUM } from 'tsmpi';

const n = Number(process.argv[2] ?? 1e8);
const dx = 3 / n, width = 3 / comm.size;
let x = comm.rank * width, a = 0;
for (let i = 0; i < n / comm.size; i++) { a += (0.7 * x * x * x - 2 * x * x + 4) * dx; x += dx; }
const total = new Float64Array(1);
await comm.Reduce(Float64Array.of(a), total, SUM, 0);
if (comm.rank === 0) console.log('The area is', total[0]);
