// The "right neighbour" program: every rank sends its rank to its left neighbour, so each rank
// learns the rank of its right neighbour. Run: tsmpirun -np 4 examples/ring.ts
import { COMM_WORLD as comm } from 'tsmpi';

const left = (comm.rank - 1 + comm.size) % comm.size;
const right = (comm.rank + 1) % comm.size;
const neighbour = await comm.sendrecv<number>(comm.rank, left, 0, right, 0);
console.log(`I am rank ${comm.rank} ; my right neighbour is ${neighbour}`);
