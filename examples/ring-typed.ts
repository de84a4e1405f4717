// The ring with typed arrays: the same exchange with Sendrecv on Int32Array buffers, no
// serialization. Run: tsmpirun -np 4 examples/ring-typed.ts
import { COMM_WORLD as comm } from 'tsmpi';

const left = (comm.rank - 1 + comm.size) % comm.size;
const right = (comm.rank + 1) % comm.size;
const mine = Int32Array.of(comm.rank);
const theirs = new Int32Array(1);
await comm.Sendrecv(mine, left, 0, theirs, right, 0);
console.log(`I am rank ${comm.rank} ; my right neighbour is ${theirs[0]}`);
