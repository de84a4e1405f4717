// Area under 0.7x³ − 2x² + 4 on [0, 3] by the rectangle rule, split over the ranks and summed with
// reduce. Run: tsmpirun -np 4 examples/auc.ts 300000000   → The area is 8.175…
import { COMM_WORLD as comm, SUM } from 'tsmpi';

const n = Number(process.argv[2] ?? 1e8);
const dx = 3 / n, width = 3 / comm.size;
let x = comm.rank * width, a = 0;
for (let i = 0; i < n / comm.size; i++) { a += (0.7 * x * x * x - 2 * x * x + 4) * dx; x += dx; }
const area = await comm.reduce(a, SUM, 0);
if (comm.rank === 0) console.log('The area is', area);
