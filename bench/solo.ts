// One ping-pong measurement alone, repeated for a while, so that a profiler watching the whole machine
// (`perf record -a`) sees nothing else: the suite interleaves everything, which is right for ratios and
// wrong for a profile. See bench/README.md, "Profiling one row", for the commands and what they showed.
//
//   node dist/bench/solo.js WHAT [SIZE] [SECONDS]
//
// WHAT is one of the floors (floor.ts) or one of tsmpi's ping-pongs (ranks/p2p.ts):
//   floor             raw bytes, read into one reused buffer
//   floor-delivering  raw bytes, each message kept in a buffer of its size
//   floor-allocating  raw bytes, each message in a buffer allocated for it
//   typed             Send/Recv of a Uint8Array
//   object            send/recv of a Uint8Array
//   objf64            send/recv of { data: Float64Array, step, name }
// SIZE in bytes (default 16 MiB), SECONDS of measuring after a warm-up (default 5). Prints the bandwidth
// of each measurement and, at the end, their median as time per message: the process pair does the same
// thing from start to end, so a symbol's share of a whole-machine profile, times the CPUs, times that
// time, is the CPU time it costs per message.
import { FloorPair, type FloorReceive } from './floor.js';
import { CommandJob } from './job.js';
import { MiB, log, median, now } from './lib.js';
import type { P2pCommand } from './ranks/p2p.js';

const FLOORS: Record<string, FloorReceive> = { floor: 'reuse', 'floor-delivering': 'deliver', 'floor-allocating': 'fresh' };
const OURS: readonly string[] = ['typed', 'object', 'objf64'];
/** Seconds per measurement: the suite's own budget. */
const BUDGET = 0.3;

interface Measured { perIteration: number }

function usage(error: string): never {
  log(`bench solo: ${error}`);
  log(`usage: node dist/bench/solo.js ${[...Object.keys(FLOORS), ...OURS].join('|')} [SIZE] [SECONDS]`);
  process.exit(2);
}

async function main(): Promise<void> {
  const [what = '', sizeText = String(16 * MiB), secondsText = '5'] = process.argv.slice(2);
  const size = Number(sizeText), seconds = Number(secondsText);
  if (!(Number.isInteger(size) && size > 0)) usage(`bad size ${sizeText}`);
  if (!(seconds > 0)) usage(`bad seconds ${secondsText}`);
  if (what === 'objf64' && size % 8 !== 0) usage('objf64 needs a size that is a multiple of 8');

  let measure: () => Promise<Measured>;
  let close: () => Promise<void> | void;
  if (Object.hasOwn(FLOORS, what)) {
    const pair = await FloorPair.start('unix', FLOORS[what]!);
    measure = () => pair.measureWithCpu('pingpong', size, 1, BUDGET);
    close = () => pair.close();
  } else if (OURS.includes(what)) {
    const job = new CommandJob(2, 'p2p');
    measure = () => job.run<Measured>({ kind: what as P2pCommand['kind'], size, window: 1, budget: BUDGET } satisfies P2pCommand);
    close = () => job.close();
  } else {
    usage(`unknown measurement ${what || '(none)'}`);
  }

  try {
    await measure(); // warm-up: cold code and first-touch page faults
    const perMessage: number[] = [];
    const started = now();
    while (now() - started < seconds) {
      perMessage.push((await measure()).perIteration / 2);
      log(`  ${what} ${size} B: ${(size / perMessage.at(-1)! / 1e6).toFixed(0)} MB/s`);
    }
    const m = median(perMessage);
    log(`bench solo: ${what} ${size} B, median of ${perMessage.length}: ${(size / m / 1e6).toFixed(0)} MB/s, ${(m * 1e6).toFixed(1)} µs per message`);
  } finally {
    await close();
  }
}

await main();
