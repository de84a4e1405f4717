// Ping-pong between ranks 0 and 1: half round-trip latency and bandwidth of typed messages for a
// few sizes. Run: tsmpirun -np 2 examples/pingpong.ts [repetitions]
import { COMM_WORLD as comm, Wtime } from 'tsmpi';

if (comm.size < 2) {
  console.log('pingpong needs at least 2 ranks: tsmpirun -np 2 examples/pingpong.ts');
} else if (comm.rank < 2) {
  const reps = Number(process.argv[2] ?? 1000);
  const peer = 1 - comm.rank;
  for (const bytes of [8, 1024, 64 * 1024, 1024 * 1024]) {
    const buf = new Uint8Array(bytes);
    const n = bytes >= 1024 * 1024 ? Math.max(10, reps / 50) : reps;
    await comm.sendrecv(null, peer, 2, peer, 2); // both sides start together
    const t0 = Wtime();
    for (let i = 0; i < n; i++) {
      if (comm.rank === 0) {
        await comm.Send(buf, peer, 1);
        await comm.Recv(buf, peer, 1);
      } else {
        await comm.Recv(buf, peer, 1);
        await comm.Send(buf, peer, 1);
      }
    }
    const half = (Wtime() - t0) / (2 * n);
    if (comm.rank === 0) {
      console.log(`${String(bytes).padStart(8)} B  ${(half * 1e6).toFixed(1).padStart(8)} us  ${(bytes / half / 1e6).toFixed(1).padStart(8)} MB/s`);
    }
  }
}
