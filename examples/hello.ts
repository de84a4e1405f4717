// Every rank says hello. Run: tsmpirun -np 4 examples/hello.ts
import { COMM_WORLD as comm, getProcessorName } from 'tsmpi';

console.log(`Hello from rank ${comm.rank} of ${comm.size} on ${getProcessorName()}`);
