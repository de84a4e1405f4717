// Ping-pong between ranks 0 and 1: the half round-trip latency and the bandwidth of typed messages,
// measured the way `npm run bench` measures its Send/Recv rows (bench/ranks/p2p.ts, bench/run.ts), so
// the figures agree: V8 runs the message path as optimized code only after thousands of round trips (a
// cold run of 200 round trips of 8 B measured 10× too slow), so a first pass over small and large
// messages is not printed, and each size is then warmed up for 0.25 s before it is timed over as many
// round trips as fill the time per size.
//
//   tsmpirun -np 2 examples/pingpong.ts [seconds per size, default 0.5]
import { allocShared, COMM_WORLD as comm, UNDEFINED, Wtime, type Comm } from 'tsmpi';

const SIZES = [8, 1024, 1024 ** 2, 16 * 1024 ** 2];
const WARM_UP_SECONDS = 0.25;
const secondsPerSize = Number(process.argv[2] ?? 0.5);

/** `count` round trips of `buf` between the two ranks of `pair`: rank 0 sends, rank 1 echoes. */
async function pingPong(pair: Comm, buf: Uint8Array, count: number): Promise<void> {
  const other = 1 - pair.rank;
  for (let i = 0; i < count; i++) {
    if (pair.rank === 0) {
      await pair.Send(buf, other);
      await pair.Recv(buf, other);
    } else {
      await pair.Recv(buf, other);
      await pair.Send(buf, other);
    }
  }
}

/** Seconds per half round trip of `bytes`-byte messages, timed for `seconds` (rank 0 decides how long). */
async function halfRoundTrip(pair: Comm, bytes: number, seconds: number): Promise<number> {
  // In shared memory: with ranks as threads, a large message then moves with one copy instead of two
  // (straight from the sender's buffer into the receiver's); with ranks as processes it is a plain array.
  const buf = allocShared(Uint8Array, bytes);
  const batch = bytes <= 64 * 1024 ? 500 : bytes <= 1024 ** 2 ? 20 : 3;
  const warmUpStart = Wtime();
  let perRoundTrip: number;
  do {
    const t = Wtime();
    await pingPong(pair, buf, batch);
    perRoundTrip = (Wtime() - t) / batch;
  } while (!(await pair.bcast(Wtime() - warmUpStart >= WARM_UP_SECONDS, 0)));
  const count = await pair.bcast(Math.max(3, Math.ceil(seconds / perRoundTrip)), 0);
  const t = Wtime();
  await pingPong(pair, buf, count);
  return (Wtime() - t) / count / 2;
}

function sizeText(bytes: number): string {
  return bytes >= 1024 ** 2 ? `${bytes / 1024 ** 2} MiB` : bytes >= 1024 ? `${bytes / 1024} KiB` : `${bytes} B`;
}

/** MB/s and GB/s are 10^6 and 10^9 bytes per second, as the bench and the OSU benchmarks print them. */
function bandwidthText(bytesPerSecond: number): string {
  return bytesPerSecond >= 1e9 ? `${(bytesPerSecond / 1e9).toPrecision(3)} GB/s` : `${(bytesPerSecond / 1e6).toPrecision(3)} MB/s`;
}

// Ranks 0 and 1 measure; any other rank has nothing to do.
const pair = await comm.split(comm.rank < 2 ? 0 : UNDEFINED);
if (comm.size < 2) {
  console.error('pingpong needs 2 ranks: tsmpirun -np 2 examples/pingpong.ts');
  process.exitCode = 2;
} else if (pair !== null) {
  if (pair.rank === 0) {
    console.log(`Send/Recv ping-pong of Uint8Array between 2 ranks (${WARM_UP_SECONDS} s warm-up, ~${secondsPerSize} s timed per size)`);
    console.log(`${'size'.padStart(8)}  ${'half round trip'.padStart(15)}  ${'bandwidth'.padStart(12)}`);
  }
  // Not printed: the first measurements of fresh processes run cold code (the bench does the same).
  await halfRoundTrip(pair, 8, 0.05);
  await halfRoundTrip(pair, 1024 ** 2, 0.05);
  for (const bytes of SIZES) {
    const seconds = await halfRoundTrip(pair, bytes, secondsPerSize);
    if (pair.rank === 0) {
      console.log(`${sizeText(bytes).padStart(8)}  ${`${(seconds * 1e6).toFixed(1)} µs`.padStart(15)}  ${bandwidthText(bytes / seconds).padStart(12)}`);
    }
  }
}
