// A rank's resident memory once it has joined its job and talked to every peer (a Barrier makes
// every data connection): each rank prints `RSS <bytes>`. The benchmark driver compares it with a
// bare `node -e` process printing its own.
import { COMM_WORLD as comm } from 'tsmpi';

await comm.Barrier();
await comm.allreduce(comm.rank);
console.log(`RSS ${process.memoryUsage().rss}`);
