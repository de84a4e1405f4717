// The benchmark suite: `npm run bench [-- --quick] [-- --only p2p,coll] [-- --reps N] [-- --with-openmpi]`.
//
// Every figure of tsmpi ("ours") is measured next to a floor taken in the same run and interleaved
// with it measurement by measurement (which of the two goes first alternates per repetition), so a
// machine busy with other work slows both alike. Each row reports the median over repetitions of
// ours and of the floor, and the median of the per-repetition ratios. See bench/README.md for what
// each row means. `--only algorithms` instead times every algorithm of a collective against the one
// runtime/coll/select.ts picks, to check its crossovers on the machine at hand.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { coreSpeeds, describeCores } from './cores.js';
import { FloorPair, type FloorMode } from './floor.js';
import { CommandJob, HERE, ROOT, tsmpirun, type RanksMode } from './job.js';
import { Mpi4pyJob, PYTHON, findMpi4py, installOpenMpi, mpirun, which } from './openmpi.js';
import { SUM, typedKernel } from '../runtime/coll/ops.js';
import { COLL_ALGORITHMS, type CollName } from '../runtime/coll/select.js';
import { isPowerOfTwo } from '../runtime/coll/topology.js';
import { dtypeOf } from '../runtime/wire/dtype.js';
import { KiB, MiB, P2P_SIZES, log, median, now, sizeLabel, streamWindow } from './lib.js';
import type { P2pCommand } from './ranks/p2p.js';
import type { CollCommand } from './ranks/coll.js';
import type { FuturesCommand } from './ranks/futures.js';

const GROUPS = ['p2p', 'stream', 'tcp', 'coll', 'observe', 'launch', 'auc', 'openmpi', 'futures', 'algorithms'] as const;
type Group = (typeof GROUPS)[number];
/** What runs without --only: everything but `algorithms`, which checks select.ts rather than measuring us. */
const DEFAULT_GROUPS = GROUPS.filter((g) => g !== 'algorithms');

// ------------------------------------------------------------------------------------------------
// Options

interface Options {
  quick: boolean;
  only: Set<Group>;
  reps: number;
  budget: number;
  withOpenmpi: boolean;
  out: string;
  /** Point-to-point sizes to run (default: all of P2P_SIZES; --quick drops 256 MiB), and the algorithms group's. */
  sizes: number[] | undefined;
  /** The algorithms group's collectives (default: all of ALGORITHM_CASES). */
  collectives: string[] | undefined;
}

function usage(error?: string): never {
  if (error) process.stderr.write(`bench: ${error}\n`);
  process.stderr.write(
    'usage: npm run bench -- [--quick] [--only GROUP[,GROUP…]] [--sizes 8,1K,16M…] [--collectives bcast,allreduce,alltoall,allgather] [--reps N] [--budget SECONDS] [--with-openmpi] [--out FILE]\n' +
    `groups: ${DEFAULT_GROUPS.join(', ')} (the default; openmpi only where Open MPI with mpi4py is found, or with --with-openmpi), algorithms (only when named)\n`,
  );
  process.exit(error ? 2 : 0);
}

/** 8, 1K, 64KiB, 16M … as bytes. */
function parseSize(text: string): number {
  const m = /^(\d+)\s*([kKmM]?)(i?B)?$/.exec(text.trim());
  if (!m) usage(`bad size ${text}`);
  return Number(m[1]) * (m[2] ? (m[2].toLowerCase() === 'k' ? KiB : MiB) : 1);
}

function parseOptions(argv: string[]): Options {
  const o: Options = { quick: false, only: new Set(DEFAULT_GROUPS), reps: 0, budget: 0, withOpenmpi: false, out: join(ROOT, 'bench', 'results', 'latest.json'), sizes: undefined, collectives: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => argv[++i] ?? usage(`${a} needs a value`);
    if (a === '--quick') o.quick = true;
    else if (a === '--with-openmpi') o.withOpenmpi = true;
    else if (a === '--only') {
      const names = value().split(',').map((s) => s.trim()).filter(Boolean);
      for (const n of names) if (!(GROUPS as readonly string[]).includes(n)) usage(`unknown group ${n}`);
      o.only = new Set(names as Group[]);
    } else if (a === '--reps') o.reps = Number(value());
    else if (a === '--budget') o.budget = Number(value());
    else if (a === '--out') o.out = value();
    else if (a === '--sizes') o.sizes = value().split(',').map(parseSize);
    else if (a === '--collectives') o.collectives = value().split(',').map((c) => c.trim().toLowerCase()).filter(Boolean);
    else if (a === '--help' || a === '-h') usage();
    else usage(`unknown option ${a}`);
  }
  if (!o.reps) o.reps = o.quick ? 3 : 5;
  if (!o.budget) o.budget = o.quick ? 0.12 : 0.3;
  if (!(o.reps >= 1 && Number.isInteger(o.reps))) usage('--reps must be a positive integer');
  if (!(o.budget > 0)) usage('--budget must be a positive number of seconds');
  return o;
}

const opts = parseOptions(process.argv.slice(2));
const sizes = opts.sizes ?? P2P_SIZES.filter((s) => !opts.quick || s < 256 * MiB);

// ------------------------------------------------------------------------------------------------
// Rows

type Metric = 'latency' | 'bandwidth' | 'time' | 'memory' | 'delay';
interface Target { op: '<=' | '>='; value: number; on: 'ratio' | 'ours' | 'difference' }

interface Row {
  group: Group;
  test: string;
  size: number | undefined;
  metric: Metric;
  /** What the floor column is for this row. */
  floorIs: string;
  target: Target | undefined;
  ours: number[];
  floor: number[];
  /** Extra per-repetition figures kept in the JSON (e.g. the half round trip behind a bandwidth). */
  extra: Record<string, number[]>;
  /** A bandwidth row whose ratio is one of times, floor ÷ ours (≤ 1: ours is faster); the openmpi group's. */
  timeRatio?: boolean;
}

const rows = new Map<string, Row>();

function row(group: Group, test: string, size: number | undefined, metric: Metric, floorIs: string, target?: Target): Row {
  const key = `${group}|${test}|${size ?? ''}`;
  let r = rows.get(key);
  if (!r) {
    r = { group, test, size, metric, floorIs, target, ours: [], floor: [], extra: {} };
    rows.set(key, r);
  }
  return r;
}

function ratioOf(r: Row, i: number): number {
  return r.metric === 'memory' ? r.ours[i]! - r.floor[i]! : r.timeRatio ? r.floor[i]! / r.ours[i]! : r.ours[i]! / r.floor[i]!;
}

interface Summary {
  group: Group; test: string; size: number | undefined; metric: Metric; unit: string; floorIs: string;
  ours: number; floor: number; ratio: number; target: string | undefined; pass: boolean | undefined;
  /** Set where the ratio is one of times on a bandwidth row (floor ÷ ours). */
  timeRatio?: true;
  samples: { ours: number[]; floor: number[]; ratio: number[] } & Record<string, number[]>;
}

const UNITS: Record<Metric, [string, number]> = {
  latency: ['µs', 1e6], bandwidth: ['MB/s', 1e-6], time: ['s', 1], memory: ['MiB', 1 / MiB], delay: ['ms', 1e3],
};

function summarize(r: Row): Summary {
  const ratios = r.ours.map((_, i) => ratioOf(r, i));
  const ours = median(r.ours), floor = median(r.floor), ratio = median(ratios);
  let pass: boolean | undefined;
  let target: string | undefined;
  if (r.target) {
    const t = r.target;
    const subject = t.on === 'ours' ? ours : ratio;
    // Targets on ours and on differences are in the row's display unit (s, MiB); ratios are plain.
    const limit = t.on === 'ratio' ? t.value : t.value / UNITS[r.metric][1];
    pass = t.op === '<=' ? subject <= limit : subject >= limit;
    const shown = t.on === 'ours' ? `${t.value} ${UNITS[r.metric][0]}` : t.on === 'difference' ? `+${t.value} ${UNITS[r.metric][0]}` : `${t.value}×`;
    target = `${t.op === '<=' ? '≤' : '≥'} ${shown}`;
  }
  return {
    group: r.group, test: r.test, size: r.size, metric: r.metric, unit: UNITS[r.metric][0], floorIs: r.floorIs,
    ours, floor, ratio, target, pass, ...(r.timeRatio ? { timeRatio: true as const } : {}),
    samples: { ours: r.ours, floor: r.floor, ratio: ratios, ...r.extra },
  };
}

function fmt(value: number, metric: Metric): string {
  if (!Number.isFinite(value)) return '—';
  const v = value * UNITS[metric][1];
  const digits = metric === 'time' ? 3 : metric === 'memory' ? 1 : v >= 100 ? 0 : v >= 10 ? 1 : 2;
  return `${v.toFixed(digits)} ${UNITS[metric][0]}`;
}

function table(summaries: Summary[]): string {
  const head = ['group', 'test', 'size', 'ours', 'floor', 'floor is', 'ratio', 'target', ''];
  const body = summaries.map((s) => [
    s.group, s.test, s.size === undefined ? '' : sizeLabel(s.size), fmt(s.ours, s.metric), fmt(s.floor, s.metric), s.floorIs,
    !Number.isFinite(s.ratio) ? '—' : s.metric === 'memory' ? `+${(s.ratio / MiB).toFixed(1)} MiB` : `${s.ratio.toFixed(2)}×`,
    s.target ?? '', s.pass === undefined ? '' : s.pass ? 'pass' : 'FAIL',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i >= 3 && i <= 4 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

// ------------------------------------------------------------------------------------------------
// Jobs of ours that take one command per line on rank 0's stdin (bench/ranks/*.ts)

/** Runs `a` and `b` one after the other, `a` first on even repetitions. */
async function interleaved(rep: number, a: () => Promise<void>, b: () => Promise<void>): Promise<void> {
  if (rep % 2 === 0) { await a(); await b(); } else { await b(); await a(); }
}

// ------------------------------------------------------------------------------------------------
// Point-to-point: latency (ping-pong), bandwidth (ping-pong and osu_bw streaming), Unix and TCP

const TYPED_BW_TARGET: Target = { op: '>=', value: 0.9, on: 'ratio' };

function p2pRows(group: Group, label: string, size: number, target8?: Target): Row {
  const bandwidth = size >= MiB;
  const target = size === 8 ? target8 : bandwidth && group === 'p2p' && label.startsWith('Send/Recv') ? TYPED_BW_TARGET : undefined;
  return row(group, bandwidth ? `bandwidth ${label}` : `latency ${label}`, size, bandwidth ? 'bandwidth' : 'latency', group === 'tcp' ? 'TCP ping-pong' : 'ping-pong', target);
}

/** Records a round-trip time as half round trip (latency rows) or size / half round trip (bandwidth rows). */
function record(r: Row, size: number, side: 'ours' | 'floor', roundTrip: number): void {
  const half = roundTrip / 2;
  r[side].push(r.metric === 'bandwidth' ? size / half : half);
  (r.extra[`${side}HalfRoundTrip`] ??= []).push(half);
}

/**
 * A bandwidth row just measured (`ours`) against one of the receivers' floors (floor.ts), measured right
 * after it: the delivering floor keeps each message in a message-sized buffer (for Send/Recv), the
 * allocating floor puts each in a buffer allocated for it, as an object receive must. No target: they
 * show how much of the gap to the floor any receiver that does the same would have.
 */
async function receiverFloorRow(test: string, floorIs: string, size: number, ours: number, receiverFloor: FloorPair): Promise<void> {
  const r = row('p2p', test, size, 'bandwidth', floorIs);
  r.ours.push(ours);
  record(r, size, 'floor', await receiverFloor.measure('pingpong', size, 1, opts.budget));
  log(`  p2p ${test} ${sizeLabel(size)}: ours ${fmt(ours, r.metric)}, ${floorIs} floor ${fmt(r.floor.at(-1)!, r.metric)}`);
}

interface ReceiverFloors {
  delivering: FloorPair;
  allocating: FloorPair;
}

async function p2pGroup(rep: number, group: 'p2p' | 'tcp', floor: FloorPair, job: CommandJob, receivers?: ReceiverFloors): Promise<void> {
  const budget = opts.budget;
  const kinds: ['typed' | 'object', string, Target | undefined][] = group === 'p2p'
    ? [['typed', 'Send/Recv', { op: '<=', value: 1.15, on: 'ratio' }], ['object', 'send/recv Uint8Array', { op: '<=', value: 1.3, on: 'ratio' }]]
    : [['typed', 'Send/Recv over TCP', undefined]];
  for (const size of sizes) {
    let f = 0;
    for (const [kind, label, target8] of kinds) {
      const r = p2pRows(group, label, size, target8);
      let fc = 0, oc = 0;
      await interleaved(rep,
        async () => { ({ perIteration: f, cpuPerIteration: fc } = await floor.measureWithCpu('pingpong', size, 1, budget)); },
        async () => {
          const res = await job.run<{ perIteration: number; cpuPerIteration: number }>({ kind, size, window: 1, budget } satisfies P2pCommand);
          record(r, size, 'ours', res.perIteration);
          oc = res.cpuPerIteration;
        });
      record(r, size, 'floor', f);
      // CPU time of the timing rank per round trip: far less sensitive to a busy machine than wall time.
      (r.extra.oursCpuPerRoundTrip ??= []).push(oc);
      (r.extra.floorCpuPerRoundTrip ??= []).push(fc);
      log(`  ${group} ${label} ${sizeLabel(size)}: ours ${fmt(r.ours.at(-1)!, r.metric)}, floor ${fmt(r.floor.at(-1)!, r.metric)}; cpu/round trip ours ${(oc * 1e6).toFixed(1)} µs, floor ${(fc * 1e6).toFixed(1)} µs`);
      if (receivers && kind === 'typed' && r.metric === 'bandwidth') {
        await receiverFloorRow('bandwidth Send/Recv, floor keeps messages', 'delivering', size, r.ours.at(-1)!, receivers.delivering);
      }
    }
  }
  if (group === 'p2p' && sizes.includes(16 * MiB)) {
    const size = 16 * MiB;
    const r = row('p2p', 'bandwidth send/recv { Float64Array }', size, 'bandwidth', 'ping-pong', { op: '>=', value: 0.8, on: 'ratio' });
    let f = 0;
    await interleaved(rep,
      async () => { f = await floor.measure('pingpong', size, 1, budget); },
      async () => { record(r, size, 'ours', (await job.run<{ perIteration: number }>({ kind: 'objf64', size, window: 1, budget } satisfies P2pCommand)).perIteration); });
    record(r, size, 'floor', f);
    log(`  p2p object { Float64Array 16 MiB }: ours ${fmt(r.ours.at(-1)!, r.metric)}, floor ${fmt(r.floor.at(-1)!, r.metric)}`);
    if (receivers) await receiverFloorRow('bandwidth send/recv { Float64Array }, floor allocates each message', 'allocating', size, r.ours.at(-1)!, receivers.allocating);
  }
}

/** The late-receive row: the sender computes this long (s) before it sends, this many times per repetition. */
const LATE_RELEASE_SECONDS = 0.002, LATE_COUNT = 50;

/**
 * A receive that waited long enough for its rank thread to stop spinning and sleep (2 ms), against
 * waking a sleeping thread with Atomics.notify and nothing else (wake-floor.ts), measured back to back.
 * The time is from the Send call to the Recv's completion, medians of LATE_COUNT messages.
 */
async function lateReceiveRow(rep: number, job: CommandJob): Promise<void> {
  const r = row('p2p', 'latency of a Recv that waited 2 ms, ranks as threads', 8, 'latency', 'Atomics.waitAsync wake');
  const count = opts.quick ? LATE_COUNT / 5 : LATE_COUNT;
  let ours = 0, floor = 0;
  await interleaved(rep,
    async () => {
      const out = execFileSync(process.execPath, [join(HERE, 'wake-floor.js'), String(LATE_RELEASE_SECONDS), String(count)], { encoding: 'utf8' });
      floor = (JSON.parse(out) as { perIteration: number }).perIteration;
    },
    async () => {
      ours = (await job.run<{ perIteration: number }>({ kind: 'late', size: 8, window: 1, budget: 0, release: LATE_RELEASE_SECONDS, count } satisfies P2pCommand)).perIteration;
    });
  r.ours.push(ours);
  r.floor.push(floor);
  log(`  p2p Recv after a 2 ms wait, threads: ours ${fmt(ours, 'latency')}, bare wake ${fmt(floor, 'latency')}`);
}

// ------------------------------------------------------------------------------------------------
// The cost of --profile and --trace: the same ping-pong in a job that records, against one that does
// not, measured back to back. Targets from the issue: --profile within 10% at 8 B and 1% at 1 MiB,
// --trace within 25% at 8 B.

/** Observed jobs of the observe group: the tsmpirun options and the targets at 8 B and 1 MiB. */
const OBSERVED: [string, Target, Target | undefined][] = [
  ['--profile', { op: '<=', value: 1.10, on: 'ratio' }, { op: '>=', value: 0.99, on: 'ratio' }],
  ['--trace', { op: '<=', value: 1.25, on: 'ratio' }, undefined],
];
/** Events a rank of the observe group may record: more than a full run makes, so the cap never makes recording cheaper. */
const OBSERVE_EVENTS = String(1 << 22);

/**
 * Fresh pairs of jobs per repetition of the observe group. Two jobs' 1 MiB ping-pongs differ by up to
 * ±10% whatever they record, so the 1% target needs many pairs: 3 × 5 repetitions give 15.
 */
const OBSERVE_PAIRS_PER_REPETITION = 3;

/**
 * One repetition of the observe group, in jobs of its own: a plain one and one per option, started
 * for it and ended after it, OBSERVE_PAIRS_PER_REPETITION times. Two long-lived jobs differ by more
 * than the cost measured here (where their ranks and memory happen to land), so each measurement
 * draws a fresh pair and the medians are over pairs.
 */
async function observeGroup(rep: number, outputs: string): Promise<void> {
  for (let pair = 0; pair < OBSERVE_PAIRS_PER_REPETITION; pair++) {
    for (const ranks of ['threads', 'processes'] as const) await observePair(rep, pair, ranks, outputs);
  }
}

/** One fresh pair (a plain job and a recording job per option) with ranks as `ranks`. */
async function observePair(rep: number, pair: number, ranks: 'threads' | 'processes', outputs: string): Promise<void> {
  const budget = opts.budget;
  const plain = new CommandJob(2, 'p2p', {}, { ranks });
  // The recording jobs write their outputs into the bench's temporary directory when they end.
  const observed = OBSERVED.map(([option]) => new CommandJob(2, 'p2p', { TSMPI_OBSERVE_EVENTS: OBSERVE_EVENTS }, {
    ranks,
    launcherArgs: option === '--profile'
      ? ['--profile', '--output-filename', join(outputs, `profile-${ranks}-${rep}-${pair}`)]
      : [option, join(outputs, `trace-${ranks}-${rep}-${pair}.json`)],
  }));
  try {
    for (const j of [plain, ...observed]) await warmP2pJob(j);
    for (const size of [8, MiB]) {
      for (const [k, [option, target8, target1m]] of OBSERVED.entries()) {
        const bandwidth = size >= MiB;
        const r = row('observe', `${bandwidth ? 'bandwidth' : 'latency'} Send/Recv ${option}, ${ranks}`, size, bandwidth ? 'bandwidth' : 'latency',
          'without it', bandwidth ? target1m : target8);
        let plainTime = 0;
        await interleaved(rep + pair,
          async () => { plainTime = (await plain.run<{ perIteration: number }>({ kind: 'typed', size, window: 1, budget } satisfies P2pCommand)).perIteration; },
          async () => { record(r, size, 'ours', (await observed[k]!.run<{ perIteration: number }>({ kind: 'typed', size, window: 1, budget } satisfies P2pCommand)).perIteration); });
        record(r, size, 'floor', plainTime);
        log(`  observe Send/Recv ${option} ${ranks} ${sizeLabel(size)}: with ${fmt(r.ours.at(-1)!, r.metric)}, without ${fmt(r.floor.at(-1)!, r.metric)}`);
      }
    }
  } finally {
    await Promise.all([plain, ...observed].map((j) => j.close()));
  }
}

/** Warm-up of a point-to-point job, not recorded: the first measurements of fresh processes run cold code. */
async function warmP2pJob(j: CommandJob): Promise<void> {
  for (const kind of ['typed', 'object', 'stream'] as const) await j.run({ kind, size: 8, window: 4, budget: 0.05 } satisfies P2pCommand);
  await j.run({ kind: 'typed', size: MiB, window: 1, budget: 0.05 } satisfies P2pCommand);
}

async function streamGroup(rep: number, floor: FloorPair, job: CommandJob): Promise<void> {
  for (const size of sizes) {
    const window = streamWindow(size);
    const target = size >= MiB ? TYPED_BW_TARGET : undefined;
    const r = row('stream', `bandwidth Isend×${window} + wait (osu_bw)`, size, 'bandwidth', 'streaming', target);
    let f = 0;
    let o = 0;
    await interleaved(rep,
      async () => { f = await floor.measure('stream' as FloorMode, size, window, opts.budget); },
      async () => { o = (await job.run<{ perIteration: number }>({ kind: 'stream', size, window, budget: opts.budget } satisfies P2pCommand)).perIteration; });
    r.ours.push((size * window) / o);
    r.floor.push((size * window) / f);
    log(`  stream ${sizeLabel(size)}: ours ${fmt(r.ours.at(-1)!, 'bandwidth')}, floor ${fmt(r.floor.at(-1)!, 'bandwidth')}`);
  }
}

// ------------------------------------------------------------------------------------------------
// Collectives, with a floor model built from floor ping-pongs measured next to them

type AddLoop = (c: Float64Array, a: Float64Array, b: Float64Array) => void;

/** A plain loop, as a user would write it: the add of the collectives' floor model. */
const plainAdd: AddLoop = (c, a, b) => {
  for (let i = 0; i < c.length; i++) c[i] = a[i]! + b[i]!;
};

/**
 * Seconds `add` takes over two 1 Mi-double arrays (median of 31, after 10 warm-up calls). Run with
 * plainAdd for the model, and with the runtime's unrolled SUM kernel (runtime/coll/ops.ts) for the
 * figure printed next to it, so a reader can see how much of the margin the faster kernel buys.
 */
function addTime(add: AddLoop): number {
  const n = MiB;
  const a = new Float64Array(n).map((_, i) => i * 0.5), b = new Float64Array(n).fill(1.25), c = new Float64Array(n);
  const times: number[] = [];
  for (let rep = 0; rep < 41; rep++) {
    const t0 = now();
    add(c, a, b);
    if (rep >= 10) times.push(now() - t0);
  }
  if (c[7] !== 7 * 0.5 + 1.25) throw new Error('bench: the add loop computed a wrong sum');
  return median(times);
}

interface CollCase { op: CollCommand['op']; size: number; label: string }
const COLL_CASES: CollCase[] = [
  { op: 'Allreduce', size: 8, label: 'Allreduce' },
  { op: 'Allreduce', size: 8 * MiB, label: 'Allreduce' },
  { op: 'allreduce', size: 8, label: 'allreduce' },
  { op: 'allreduce', size: 8 * MiB, label: 'allreduce' },
  { op: 'Bcast', size: 8 * MiB, label: 'Bcast' },
  { op: 'Barrier', size: 0, label: 'Barrier' },
  { op: 'Alltoall', size: MiB, label: 'Alltoall' },
];

/**
 * A lower bound of each collective built from the floor: t(n) = floor half round trip of n bytes,
 * rounds of the algorithm in sequence, the additions of a reduction at the measured add speed.
 * On 4 ranks it assumes every pair of ranks gets a link of its own, which 2 cores cannot give.
 */
function collModel(c: CollCase, p: number, t: (n: number) => number, add: number): number {
  const lg = Math.ceil(Math.log2(p));
  const n = c.size;
  switch (c.op) {
    case 'Barrier':
      return lg * t(8);
    case 'Allreduce':
    case 'allreduce':
      if (n <= 2048) return lg * t(n);
      // Reduce-scatter by halving then allgather by doubling (Rabenseifner); on 2 ranks one exchange.
      if (p === 2) return t(n) + add * (n / (8 * MiB));
      { let s = 0, part = n; for (let k = 0; k < lg; k++) { part /= 2; s += 2 * t(part); } return s + add * (n / (8 * MiB)) * (p - 1) / p; }
    case 'Bcast':
      return lg * t(n);
    case 'Alltoall':
      return (p - 1) * t(Math.floor(n / p));
    default:
      return NaN;
  }
}

/** The message sizes whose floor half round trip collModel uses for case `c` on `p` ranks. */
function modelNeeds(c: CollCase, p: number): number[] {
  const n = c.size;
  switch (c.op) {
    case 'Barrier': return [8];
    case 'Alltoall': return [Math.floor(n / p)];
    case 'Bcast': return [n];
    default: {
      if (n <= 2048 || p === 2) return [n];
      const out: number[] = [];
      for (let part = n / 2, k = 0; k < Math.ceil(Math.log2(p)); k++, part /= 2) out.push(part);
      return out;
    }
  }
}

async function collGroup(rep: number, p: number, floor: FloorPair, job: CommandJob): Promise<void> {
  const budget = opts.budget;
  for (const c of COLL_CASES) {
    const needed = modelNeeds(c, p);
    const half = new Map<number, number>();
    let add = 0;
    let o = 0;
    await interleaved(rep,
      async () => {
        for (const s of needed) half.set(s, (await floor.measure('pingpong', s, 1, budget)) / 2);
        if (c.op.toLowerCase() === 'allreduce' && c.size > 2048) add = addTime(plainAdd);
      },
      async () => { o = (await job.run<{ perIteration: number }>({ op: c.op, size: c.size, budget } satisfies CollCommand)).perIteration; });
    const model = collModel(c, p, (n) => half.get(n) ?? NaN, add);
    const target: Target | undefined = c.op === 'Allreduce' && c.size === 8 * MiB && p === 2 ? { op: '<=', value: 1.3, on: 'ratio' } : undefined;
    const floorIs = target ? 't(8 MiB) + add' : 'model';
    const r = row('coll', `${c.label} np=${p}`, c.op === 'Barrier' ? undefined : c.size, 'latency', floorIs, target);
    r.ours.push(o);
    r.floor.push(model);
    let kernelNote = '';
    if (add) {
      const kernelAdd = addTime(typedKernel(SUM, dtypeOf(new Float64Array(0))) as AddLoop);
      const kernelModel = collModel(c, p, (n) => half.get(n) ?? NaN, kernelAdd);
      (r.extra.addSeconds ??= []).push(add);
      (r.extra.kernelAddSeconds ??= []).push(kernelAdd);
      (r.extra.modelWithKernelAdd ??= []).push(kernelModel);
      kernelNote = ` (with the runtime's add kernel in the model: ${fmt(kernelModel, 'latency')}, ${(o / kernelModel).toFixed(2)}×)`;
    }
    log(`  coll ${c.label} np=${p} ${c.op === 'Barrier' ? '' : sizeLabel(c.size)}: ours ${fmt(o, 'latency')}, floor model ${fmt(model, 'latency')}${kernelNote}`);
  }
}

// ------------------------------------------------------------------------------------------------
// Algorithms (run only when named: --only algorithms): every algorithm of a collective against the
// automatic choice (runtime/coll/select.ts), at sizes on both sides of its crossovers, on 2 to 4 ranks.
// The row's "ours" is the forced algorithm (TSMPI_COLL_<COLLECTIVE>), its "floor" the automatic choice
// measured next to it; a ratio clearly below 1 is a size at which select.ts picks the slower one.

interface AlgorithmCase { coll: CollName; op: CollCommand['op']; sizes: number[] }
const ALGORITHM_CASES: AlgorithmCase[] = [
  // bytes of the buffer (crossovers: BCAST_SHORT_MSG_BYTES, BCAST_MIN_PROCS)
  { coll: 'bcast', op: 'Bcast', sizes: [4 * KiB, 16 * KiB, 64 * KiB, 256 * KiB, MiB, 8 * MiB] },
  // bytes of the Float64Array (ALLREDUCE_SHORT_MSG_BYTES, ALLREDUCE_RING_MIN_BYTES)
  { coll: 'allreduce', op: 'Allreduce', sizes: [2 * KiB, 16 * KiB, 64 * KiB, 256 * KiB, MiB, 8 * MiB] },
  // bytes each rank sends in all, a block per rank (ALLTOALL_MEDIUM_MSG_BYTES is per block)
  { coll: 'alltoall', op: 'Alltoall', sizes: [4 * KiB, 32 * KiB, 128 * KiB, 512 * KiB, 2 * MiB] },
  // bytes gathered on each rank (ALLGATHER_SHORT_MSG_BYTES, ALLGATHER_LONG_MSG_BYTES)
  { coll: 'allgather', op: 'Allgather', sizes: [8 * KiB, 64 * KiB, 256 * KiB, MiB, 4 * MiB] },
];
const ALGORITHM_RANKS = [2, 3, 4];

/** The cases --collectives names (all by default); a usage error for a name without one. */
function algorithmCases(): AlgorithmCase[] {
  for (const name of opts.collectives ?? []) if (!ALGORITHM_CASES.some((c) => c.coll === name)) usage(`--collectives: no case for ${name}`);
  return ALGORITHM_CASES.filter((c) => !opts.collectives || opts.collectives.includes(c.coll));
}

async function algorithmsGroup(): Promise<void> {
  const budget = opts.budget;
  const cases = algorithmCases();
  for (const np of ALGORITHM_RANKS) {
    for (const c of cases) {
      // Forced recursive doubling allgather runs Bruck on other sizes (select.ts APPLICABLE): not a row of its own.
      const algorithms = COLL_ALGORITHMS[c.coll].filter((a) => !(a === 'recursive_doubling' && c.coll === 'allgather' && !isPowerOfTwo(np)));
      const timeOf = async (job: CommandJob, size: number) => (await job.run<{ perIteration: number }>({ op: c.op, size, budget } satisfies CollCommand)).perIteration;
      for (let rep = 0; rep < opts.reps; rep++) {
        log(`bench: algorithms, ${c.op} on ${np} ranks, repetition ${rep + 1} of ${opts.reps}`);
        // New jobs every repetition: where the scheduler puts a job's ranks on the cores stays with the
        // job and made one job up to 30% slower than another running the same algorithm.
        const auto = new CommandJob(np, 'coll');
        const forced = algorithms.map((algorithm) => ({ algorithm, job: new CommandJob(np, 'coll', { [`TSMPI_COLL_${c.coll.toUpperCase()}`]: algorithm }) }));
        for (const size of opts.sizes ?? c.sizes) {
          const times = new Map<string, number>();
          let autoTime = 0;
          await interleaved(rep,
            async () => { autoTime = await timeOf(auto, size); },
            async () => { for (const f of forced) times.set(f.algorithm, await timeOf(f.job, size)); });
          for (const f of forced) {
            const r = row('algorithms', `${c.op} np=${np} ${f.algorithm}`, size, 'latency', 'automatic choice');
            r.ours.push(times.get(f.algorithm)!);
            r.floor.push(autoTime);
          }
          log(`  ${c.op} np=${np} ${sizeLabel(size)}: auto ${fmt(autoTime, 'latency')}, ${forced.map((f) => `${f.algorithm} ${fmt(times.get(f.algorithm)!, 'latency')}`).join(', ')}`);
        }
        await Promise.all([auto, ...forced.map((f) => f.job)].map((j) => j.close()));
      }
    }
  }
}

// ------------------------------------------------------------------------------------------------
// Launch time, memory, and a compute-bound job against C + MPI

function wall(command: string, args: string[], env?: NodeJS.ProcessEnv): Promise<{ seconds: number; stdout: string; code: number | null }> {
  return new Promise((resolve) => {
    const t0 = now();
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'], env: env ?? process.env });
    let stdout = '';
    child.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.on('exit', (code) => resolve({ seconds: now() - t0, stdout, code }));
  });
}

async function bareNodes(n: number, env?: NodeJS.ProcessEnv): Promise<number> {
  const t0 = now();
  await Promise.all(Array.from({ length: n }, () => wall(process.execPath, ['-e', "console.log('hello')"], env)));
  return now() - t0;
}

/**
 * The environment without NODE_EXTRA_CA_CERTS, or undefined when it is not set. Node 20 reads that file
 * and builds its whole root certificate store at every process start (nodejs/node#40524; 35 ms of CPU
 * per process with this machine's 144-certificate bundle), whether or not the process ever uses TLS.
 * The bare nodes pay it in full; tsmpirun (started by bin/tsmpirun) does not load it, and local ranks
 * get only the file's certificates that Node does not bundle (launcher/spawn/ca-certs.ts). The extra
 * rows show what launching costs without it.
 */
function envWithoutExtraCaCerts(): NodeJS.ProcessEnv | undefined {
  if (!process.env.NODE_EXTRA_CA_CERTS) return undefined;
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
}

async function launchGroup(rep: number): Promise<void> {
  const withoutCerts = envWithoutExtraCaCerts();
  const cases = [
    { np: 4, target: { op: '<=', value: 0.45, on: 'ours' } as Target, env: undefined, note: '' },
    { np: 16, target: { op: '<=', value: 0.9, on: 'ours' } as Target, env: undefined, note: '' },
    ...(withoutCerts ? [4, 16].map((np) => ({ np, target: undefined, env: withoutCerts, note: ', NODE_EXTRA_CA_CERTS unset' })) : []),
  ];
  for (const { np, target, env, note } of cases) {
    const r = row('launch', `tsmpirun -np ${np} examples/hello.ts${note}`, undefined, 'time', `${np} × bare node`, target);
    let f = 0, o = 0;
    await interleaved(rep,
      async () => { f = await bareNodes(np, env); },
      async () => {
        const res = await wall(...tsmpirun(['--ranks', 'processes', '-np', String(np), join(ROOT, 'examples', 'hello.ts')]), env);
        if (res.code !== 0) log(`bench: hello -np ${np} exited with ${res.code}`);
        o = res.seconds;
      });
    r.ours.push(o);
    r.floor.push(f);
    log(`  launch -np ${np}${note}: ours ${o.toFixed(3)} s, ${np} bare node ${f.toFixed(3)} s`);
  }
  const r = row('launch', 'rank resident memory (RSS)', undefined, 'memory', 'bare node -e', { op: '<=', value: 15, on: 'difference' });
  let f = 0, o = 0;
  await interleaved(rep,
    async () => {
      const res = await wall(process.execPath, ['-e', "console.log('RSS ' + process.memoryUsage().rss)"]);
      f = Number(/RSS (\d+)/.exec(res.stdout)![1]);
    },
    async () => {
      const res = await wall(...tsmpirun(['--ranks', 'processes', '-np', '2', join(HERE, 'ranks', 'rss.js')]));
      const all = [...res.stdout.matchAll(/RSS (\d+)/g)].map((m) => Number(m[1]));
      o = Math.max(...all);
    });
  r.ours.push(o);
  r.floor.push(f);
  log(`  rss: rank ${(o / MiB).toFixed(1)} MiB, bare node ${(f / MiB).toFixed(1)} MiB`);
}

interface NativeMpi { name: string; run: (args: string[]) => [string, string[]]; binary: string }

/** Builds bench/auc.c with Open MPI when present (or installed with --with-openmpi), else with the `mpicc` found. */
function nativeMpi(dir: string): NativeMpi | undefined {
  let cc: string | undefined, runner: string | undefined, name = '';
  if (opts.withOpenmpi) installOpenMpi();
  if (which('mpicc.openmpi') && which('mpirun.openmpi')) {
    cc = 'mpicc.openmpi'; runner = 'mpirun.openmpi'; name = 'C + Open MPI';
  } else if (which('mpicc') && (which('mpirun') || which('mpiexec'))) {
    cc = 'mpicc'; runner = which('mpirun') ? 'mpirun' : 'mpiexec';
    let show = '';
    try { show = execFileSync('mpicc', ['-show'], { encoding: 'utf8' }); } catch { /* unknown flavour */ }
    name = /mpich/i.test(show) ? 'C + MPICH' : /open-?mpi|libmpi\b/i.test(show) ? 'C + Open MPI' : 'C + MPI';
  }
  if (!cc || !runner) return undefined;
  const binary = join(dir, 'auc');
  const built = spawnSync(cc, ['-O2', '-o', binary, join(ROOT, 'bench', 'auc.c')], { stdio: ['ignore', 2, 2] });
  if (built.status !== 0) return undefined;
  const openmpi = name.includes('Open MPI');
  const root = process.getuid?.() === 0;
  return {
    name, binary,
    run: (args) => [runner!, [...(openmpi && root ? ['--allow-run-as-root'] : []), ...(openmpi ? ['--oversubscribe'] : []), '-np', '2', binary, ...args]],
  };
}

const AUC_N = '3000000000';
const AUC_REFERENCE_SECONDS = 2.4;

async function aucGroup(rep: number, mpi: NativeMpi | undefined): Promise<void> {
  const r = row('auc', `tsmpirun -np 2 examples/auc.ts ${AUC_N}`, undefined, 'time',
    mpi ? `${mpi.name} (same program)` : 'reference 2.4 s (not measured)', { op: '<=', value: 1.3, on: 'ratio' });
  let f = AUC_REFERENCE_SECONDS, o = 0;
  await interleaved(rep,
    async () => {
      if (!mpi) return;
      const [cmd, args] = mpi.run([AUC_N]);
      const res = await wall(cmd, args);
      if (res.code !== 0) log(`bench: ${cmd} exited with ${res.code}`);
      f = res.seconds;
    },
    async () => {
      const res = await wall(...tsmpirun(['--ranks', 'processes', '-np', '2', join(ROOT, 'examples', 'auc.ts'), AUC_N]));
      if (res.code !== 0) log(`bench: auc exited with ${res.code}`);
      o = res.seconds;
    });
  r.ours.push(o);
  r.floor.push(f);
  log(`  auc: ours ${o.toFixed(3)} s, ${mpi ? mpi.name : 'reference'} ${f.toFixed(3)} s`);
}

// ------------------------------------------------------------------------------------------------
// Against Open MPI + mpi4py (bench/mpi4py/serve.py under mpirun.openmpi; bench/openmpi.ts), for both of
// tsmpi's ways of running ranks on one host. Every measurement is taken three times in a row, tsmpi
// with --ranks threads, tsmpi with --ranks processes and Open MPI, in an order that rotates per
// repetition; each mode's row has the Open MPI figure as its floor and the ratio tsmpi time ÷ Open MPI
// time (on bandwidth rows too: ≤ 1 is tsmpi faster). The targets of issue 20 are on the threads rows;
// the processes rows are information.

const MODES: readonly RanksMode[] = ['threads', 'processes'];
/** Send/Recv sizes of the openmpi group (--sizes overrides them). */
const OPENMPI_SIZES = [8, KiB, MiB, 16 * MiB];
/** Issue 20's time ratios for threads-mode Send/Recv, by size. */
const OPENMPI_SENDRECV_TARGETS = new Map<number, number>([[8, 1.5], [KiB, 1.5], [MiB, 1.0], [16 * MiB, 0.5]]);
/** Ranks of the token ring: more than the cores of a 2-core machine, so oversubscribed there. */
const RING_NP = 8;
const TIMER_SECONDS = 0.01, TIMER_RELEASE_SECONDS = 0.05;

interface OpenMpiJobs {
  /** tsmpi ranks/p2p.ts on 2 ranks, per mode. */
  p2p: Record<RanksMode, CommandJob>;
  /** tsmpi ranks/coll.ts per number of ranks (2, 4, RING_NP), per mode. */
  coll: Map<number, Record<RanksMode, CommandJob>>;
  /** serve.py per number of ranks (2: point to point and collectives, 4, RING_NP). */
  ompi: Map<number, Mpi4pyJob>;
}

function startOpenMpiJobs(): OpenMpiJobs {
  const perMode = (np: number, program: string) =>
    ({ threads: new CommandJob(np, program, {}, { ranks: 'threads' }), processes: new CommandJob(np, program, {}, { ranks: 'processes' }) });
  const nps = [2, 4, RING_NP];
  return {
    p2p: perMode(2, 'p2p'),
    coll: new Map(nps.map((np) => [np, perMode(np, 'coll')])),
    ompi: new Map(nps.map((np) => [np, new Mpi4pyJob(np)])),
  };
}

async function closeOpenMpiJobs(jobs: OpenMpiJobs): Promise<void> {
  await Promise.all([
    ...MODES.map((m) => jobs.p2p[m].close()),
    ...[...jobs.coll.values()].flatMap((j) => MODES.map((m) => j[m].close())),
    ...[...jobs.ompi.values()].map((j) => j.close()),
  ]);
}

/** Runs `fns` one after the other, starting at fns[rep % n]: each goes first once in n repetitions. */
async function rotated(rep: number, fns: (() => Promise<void>)[]): Promise<void> {
  for (let k = 0; k < fns.length; k++) await fns[(rep + k) % fns.length]!();
}

type ThreeWay = Record<RanksMode | 'ompi', number>;

/** tsmpi in both modes and Open MPI, in rotating order. */
async function threeWay(rep: number, ours: (mode: RanksMode) => Promise<number>, ompi: () => Promise<number>): Promise<ThreeWay> {
  const t: ThreeWay = { threads: NaN, processes: NaN, ompi: NaN };
  await rotated(rep, [
    async () => { t.threads = await ours('threads'); },
    async () => { t.processes = await ours('processes'); },
    async () => { t.ompi = await ompi(); },
  ]);
  return t;
}

/** The two rows of a measurement: "<test> threads ÷ Open MPI" (with the target) and "… processes ÷ Open MPI". */
function vsOpenMpi(test: string, size: number | undefined, metric: Metric, floorIs: string, target?: number): Record<RanksMode, Row> {
  const rs = {
    threads: row('openmpi', `${test} threads ÷ Open MPI`, size, metric, floorIs, target === undefined ? undefined : { op: '<=', value: target, on: 'ratio' }),
    processes: row('openmpi', `${test} processes ÷ Open MPI`, size, metric, floorIs),
  };
  if (metric === 'bandwidth') rs.threads.timeRatio = rs.processes.timeRatio = true;
  return rs;
}

function pushBoth(rs: Record<RanksMode, Row>, t: ThreeWay): void {
  for (const m of MODES) { rs[m].ours.push(t[m]); rs[m].floor.push(t.ompi); }
}

function logThree(label: string, t: ThreeWay, metric: Metric): void {
  log(`  openmpi ${label}: threads ${fmt(t.threads, metric)}, processes ${fmt(t.processes, metric)}, Open MPI ${fmt(t.ompi, metric)}`);
}

interface Timed { perIteration: number }

async function openmpiGroup(rep: number, jobs: OpenMpiJobs): Promise<void> {
  const budget = opts.budget;
  const ompi2 = jobs.ompi.get(2)!;
  const ompiSizes = opts.sizes ?? OPENMPI_SIZES;

  // Point to point, ranks 0 and 1: round trips, recorded as half round trips or bandwidths (record()).
  const p2p = async (label: string, size: number, kind: P2pCommand['kind'], ompiCmd: object, target: number | undefined, floorIs: string) => {
    const bw = size >= MiB;
    const rs = vsOpenMpi(`${bw ? 'bandwidth' : 'latency'} ${label}`, size, bw ? 'bandwidth' : 'latency', bw ? `${floorIs}; ratio of times` : floorIs, target);
    const t = await threeWay(rep,
      async (m) => (await jobs.p2p[m].run<Timed>({ kind, size, window: 1, budget } satisfies P2pCommand)).perIteration,
      async () => (await ompi2.run<Timed>(ompiCmd)).perIteration);
    for (const m of MODES) { record(rs[m], size, 'ours', t[m]); record(rs[m], size, 'floor', t.ompi); }
    logThree(`${label} ${sizeLabel(size)} (round trip)`, t, 'latency');
  };
  for (const size of ompiSizes) {
    await p2p('Send/Recv', size, 'typed', { kind: 'typed', size, budget }, OPENMPI_SENDRECV_TARGETS.get(size), 'Open MPI Send/Recv');
  }
  if (ompiSizes.includes(8)) {
    await p2p('send/recv object', 8, 'object', { kind: 'object', size: 8, budget }, 1.5, 'mpi4py send/recv of bytes (pickled)');
  }
  if (ompiSizes.includes(16 * MiB)) {
    await p2p('send/recv { Float64Array }', 16 * MiB, 'objf64', { kind: 'typed', size: 16 * MiB, budget }, 1.0, 'Open MPI Send/Recv 16 MiB');
  }

  // Collectives: the mean over ranks of the time per call.
  for (const np of [2, 4]) {
    const coll = jobs.coll.get(np)!, ompi = jobs.ompi.get(np)!;
    const cases: { label: string; size: number | undefined; ours: CollCommand; theirs: object; target?: number; floorIs: string }[] = [
      { label: `Allreduce 1 Mi doubles np=${np}`, size: 8 * MiB, ours: { op: 'Allreduce', size: 8 * MiB, budget }, theirs: { kind: 'allreduce-typed', count: MiB, budget }, ...(np === 2 ? { target: 1.0 } : {}), floorIs: 'Open MPI Allreduce' },
      { label: `Barrier np=${np}`, size: undefined, ours: { op: 'Barrier', size: 0, budget }, theirs: { kind: 'barrier', budget }, target: 2, floorIs: 'Open MPI Barrier' },
      { label: `allreduce one number np=${np}`, size: undefined, ours: { op: 'allreduce', size: 8, budget }, theirs: { kind: 'allreduce-object', budget }, target: 2, floorIs: 'mpi4py allreduce of a float' },
    ];
    for (const c of cases) {
      const rs = vsOpenMpi(c.label, c.size, 'latency', c.floorIs, c.target);
      const t = await threeWay(rep,
        async (m) => (await coll[m].run<Timed>(c.ours)).perIteration,
        async () => (await ompi.run<Timed>(c.theirs)).perIteration);
      pushBoth(rs, t);
      logThree(c.label, t, 'latency');
    }
  }

  // The token ring on RING_NP ranks (oversubscribed on a 2-core machine): time per hop.
  {
    const ring = jobs.coll.get(RING_NP)!;
    const t = await threeWay(rep,
      async (m) => (await ring[m].run<Timed>({ op: 'ring', size: 8, budget } satisfies CollCommand)).perIteration,
      async () => (await jobs.ompi.get(RING_NP)!.run<Timed>({ kind: 'ring', size: 8, budget })).perIteration);
    const test = `token ring np=${RING_NP} per hop`;
    const own = row('openmpi', `${test} threads ÷ processes`, undefined, 'latency', 'tsmpi --ranks processes', { op: '<=', value: 1.0, on: 'ratio' });
    own.ours.push(t.threads);
    own.floor.push(t.processes);
    pushBoth(vsOpenMpi(test, undefined, 'latency', 'Open MPI'), t);
    logThree(`${test} (${availableParallelism()} cores)`, t, 'latency');
  }

  // A 10 ms timer armed while the rank waits in a Recv that completes after 50 ms (no Open MPI side).
  {
    const count = opts.quick ? 5 : 10;
    const got: Partial<Record<RanksMode, { perIteration: number; max: number; firedFirst: number }>> = {};
    await rotated(rep, MODES.map((m) => async () => {
      got[m] = await jobs.p2p[m].run({ kind: 'timer', size: 8, window: 1, budget, timer: TIMER_SECONDS, release: TIMER_RELEASE_SECONDS, count } satisfies P2pCommand);
    }));
    for (const m of MODES) {
      const r = row('openmpi', `10 ms timer while waiting in Recv, ${m}`, undefined, 'delay', 'armed delay (10 ms)',
        m === 'threads' ? { op: '<=', value: 15, on: 'ours' } : undefined);
      const g = got[m]!;
      r.ours.push(g.perIteration);
      r.floor.push(TIMER_SECONDS);
      (r.extra.maxDelay ??= []).push(g.max);
      (r.extra.firedBeforeMessage ??= []).push(g.firedFirst / count);
    }
    log(`  openmpi 10 ms timer during a 50 ms Recv: threads ${fmt(got.threads!.perIteration, 'delay')} (max ${fmt(got.threads!.max, 'delay')}), processes ${fmt(got.processes!.perIteration, 'delay')} (max ${fmt(got.processes!.max, 'delay')})`);
  }

  // Launch: wall time of the whole job, hello.ts against `python3 -c 'from mpi4py import MPI'`.
  const withoutCerts = envWithoutExtraCaCerts();
  const launches = [
    ...[4, 16].map((np) => ({ np, target: 0.6 as number | undefined, env: undefined as NodeJS.ProcessEnv | undefined, note: '' })),
    ...(withoutCerts ? [4, 16].map((np) => ({ np, target: undefined, env: withoutCerts, note: ', NODE_EXTRA_CA_CERTS unset' })) : []),
  ];
  for (const { np, target, env, note } of launches) {
    const rs = vsOpenMpi(`launch -np ${np} hello.ts${note}`, undefined, 'time', "mpirun python3 -c 'from mpi4py import MPI'", target);
    const t = await threeWay(rep,
      async (m) => {
        const res = await wall(...tsmpirun(['--ranks', m, '-np', String(np), join(ROOT, 'examples', 'hello.ts')]), env);
        if (res.code !== 0) log(`bench: hello --ranks ${m} -np ${np} exited with ${res.code}`);
        return res.seconds;
      },
      async () => {
        const res = await wall(...mpirun(np, [PYTHON, '-c', 'from mpi4py import MPI']), env);
        if (res.code !== 0) log(`bench: mpirun -np ${np} python3 mpi4py exited with ${res.code}`);
        return res.seconds;
      });
    pushBoth(rs, t);
    logThree(`launch -np ${np}${note}`, t, 'time');
  }
}

// ------------------------------------------------------------------------------------------------
// Task pools (tsmpi/futures): one job of a root and two workers (ranks/futures.ts), with ranks as
// threads, tsmpirun's default: a pool is not compared with a socket floor, so it runs as users run it.

/** Ranks of the futures jobs: a root, which mostly waits, and two workers (-np cores + 1 on 2 cores). */
const FUTURES_RANKS = 3;
/** Each futures map job first runs its map for this long, untimed (see main). */
const FUTURES_WARM_SECONDS = 2;

const futuresJob = () => new CommandJob(FUTURES_RANKS, 'futures', {}, { ranks: 'threads' });

/** The futures group's jobs: one for the per-task row, and one for each map row, so that no row runs
 *  on code whose type feedback another row's tasks and values made (a pow10 map measured after the
 *  prime check, in the same job, took ~25% longer). */
interface FuturesJobs { perTask: CommandJob; pow10: CommandJob; primes: CommandJob }

async function futuresGroup(rep: number, jobs: FuturesJobs): Promise<void> {
  const job = jobs.perTask;
  const budget = opts.budget;
  const run = <T>(cmd: FuturesCommand) => job.run<T>(cmd);
  let roundTrip = 0, perTask = 0;
  await interleaved(rep,
    async () => { roundTrip = (await run<{ perIteration: number }>({ kind: 'roundtrip', budget })).perIteration; },
    async () => { perTask = (await run<{ perIteration: number }>({ kind: 'per-task', budget })).perIteration; });
  const task = row('futures', 'time per task, warm, chunksize 1 (root + 2 workers)', undefined, 'latency', 'object round trip');
  task.ours.push(perTask);
  task.floor.push(roundTrip);
  log(`  futures per task ${fmt(perTask, 'latency')}, object round trip ${fmt(roundTrip, 'latency')}`);
  const poolFirst = rep % 2 === 0;
  const rows: [FuturesCommand['kind'], string, Target][] = [
    ['pow10', "mapAll x ** 10, 3000 items, 'auto' chunks, 2 workers", { op: '<=', value: 2, on: 'ratio' }],
    // At least 1.8× faster than serial: the pool's time at most 1 / 1.8 of it.
    ['primes', "mapAll prime check, 20000 numbers, 'auto' chunks, 2 workers (≥ 1.8× faster)", { op: '<=', value: 0.556, on: 'ratio' }],
  ];
  for (const [kind, test, target] of rows) {
    const r = row('futures', test, undefined, 'latency', 'serial map on root', target);
    const { pool, serial } = await jobs[kind as 'pow10' | 'primes'].run<{ pool: number; serial: number }>({ kind, budget, poolFirst });
    r.ours.push(pool);
    r.floor.push(serial);
    log(`  futures ${kind}: pool ${fmt(pool, 'latency')}, serial ${fmt(serial, 'latency')} (${(serial / pool).toFixed(2)}× faster)`);
    if (kind === 'pow10') {
      // The same map on two bare threads (futures-floor.ts), measured right after: what the runtime adds.
      const bare = JSON.parse(execFileSync(process.execPath, [join(HERE, 'futures-floor.js'), String(budget)], { encoding: 'utf8' })) as { pool: number; serial: number };
      const b = row('futures', 'mapAll x ** 10, 3000 items, against the same map on 2 bare threads', undefined, 'latency', 'shared memory + Atomics, no runtime');
      b.ours.push(pool);
      b.floor.push(bare.pool);
      log(`  futures pow10 on bare threads: ${fmt(bare.pool, 'latency')} (serial there ${fmt(bare.serial, 'latency')})`);
    }
  }
}

// ------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = now();
  const load0 = loadavg();
  log(`bench: ${opts.reps} repetitions, budget ${opts.budget} s per measurement, groups ${[...opts.only].join(', ')}${opts.quick ? ' (quick: no 256 MiB)' : ''}`);
  const cores0 = coreSpeeds();
  log(`bench: ${describeCores(cores0)}`);
  const has = (g: Group) => opts.only.has(g);
  if (has('algorithms')) algorithmCases(); // option errors before anything runs
  if (has('openmpi')) {
    if (opts.withOpenmpi) installOpenMpi();
    const found = findMpi4py();
    if (found) log(`bench: the openmpi group runs against ${found} (${PYTHON})`);
    else {
      opts.only.delete('openmpi');
      log(`bench: skipping the openmpi group: no Open MPI with mpi4py here (mpirun.openmpi, and ${PYTHON} with mpi4py and numpy); --with-openmpi installs them with apt-get`);
    }
  }
  const tmp = mkdtempSync(join(tmpdir(), 'tsmpi-bench-'));
  try {
    const unixFloor = has('p2p') || has('stream') || has('coll') ? await FloorPair.start('unix') : undefined;
    const tcpFloor = has('tcp') ? await FloorPair.start('tcp') : undefined;
    const receiverFloors: ReceiverFloors | undefined = has('p2p') && sizes.some((s) => s >= MiB)
      ? { delivering: await FloorPair.start('unix', 'deliver'), allocating: await FloorPair.start('unix', 'fresh') }
      : undefined;
    const p2pJob = has('p2p') || has('stream') ? new CommandJob(2, 'p2p') : undefined;
    const lateJob = has('p2p') ? new CommandJob(2, 'p2p', {}, { ranks: 'threads' }) : undefined;
    const tcpJob = has('tcp') ? new CommandJob(2, 'p2p', { TSMPI_TRANSPORT: 'tcp' }) : undefined;
    const coll2 = has('coll') ? new CommandJob(2, 'coll') : undefined;
    const coll4 = has('coll') ? new CommandJob(4, 'coll') : undefined;
    const futuresJobs: FuturesJobs | undefined = has('futures')
      ? { perTask: futuresJob(), pow10: futuresJob(), primes: futuresJob() }
      : undefined;
    let mpi: NativeMpi | undefined;
    if (has('auc')) {
      mpi = nativeMpi(tmp);
      if (!mpi) log(`bench: no mpicc found (pass --with-openmpi to install Open MPI); the auc row uses the issue's reference ${AUC_REFERENCE_SECONDS} s, not a measurement`);
    }
    if (has('launch')) {
      // The launcher caches each script's bundle: the first launch builds it and is not timed.
      await wall(...tsmpirun(['--ranks', 'processes', '-np', '1', join(ROOT, 'examples', 'hello.ts')]));
      await wall(...tsmpirun(['--ranks', 'processes', '-np', '1', join(HERE, 'ranks', 'rss.js')]));
    }
    // Warm-up, not recorded: the first measurements of fresh processes run cold code.
    const floors = [unixFloor, tcpFloor, receiverFloors?.delivering, receiverFloors?.allocating];
    for (const f of floors) if (f) { await f.measure('pingpong', 8, 1, 0.05); await f.measure('pingpong', MiB, 1, 0.05); }
    for (const j of [p2pJob, tcpJob]) if (j) await warmP2pJob(j);
    if (lateJob) await lateJob.run({ kind: 'late', size: 8, window: 1, budget: 0, release: LATE_RELEASE_SECONDS, count: 5 } satisfies P2pCommand);
    for (const j of [coll2, coll4]) if (j) await j.run({ op: 'Barrier', size: 0, budget: 0.05 } satisfies CollCommand);
    let openmpiJobs: OpenMpiJobs | undefined;
    if (has('openmpi')) {
      openmpiJobs = startOpenMpiJobs();
      // The launcher caches each script's bundle (per mode): the first launches are not timed.
      for (const m of MODES) await wall(...tsmpirun(['--ranks', m, '-np', '1', join(ROOT, 'examples', 'hello.ts')]));
      for (const m of MODES) {
        for (const kind of ['typed', 'object'] as const) await openmpiJobs.p2p[m].run({ kind, size: 8, window: 1, budget: 0.05 } satisfies P2pCommand);
        for (const np of [2, 4]) await openmpiJobs.coll.get(np)![m].run({ op: 'Barrier', size: 0, budget: 0.05 } satisfies CollCommand);
      }
      for (const kind of ['typed', 'object']) await openmpiJobs.ompi.get(2)!.run({ kind, size: 8, budget: 0.05 });
      await openmpiJobs.ompi.get(4)!.run({ kind: 'barrier', budget: 0.05 });
    }
    if (futuresJobs) {
      await futuresJobs.perTask.run({ kind: 'per-task', budget: 0.05 } satisfies FuturesCommand);
      // V8 compiles the runtime's hot code for each rank's isolate on background threads, which the
      // three rank threads leave little of the two cores: a pool's maps take ~2 s to reach their
      // steady speed (x ** 10: ~520 µs a map over the first 0.15 s, ~300 µs after 2 s).
      for (const kind of ['pow10', 'primes'] as const) await futuresJobs[kind].run({ kind, budget: FUTURES_WARM_SECONDS } satisfies FuturesCommand);
    }
    const repeated = DEFAULT_GROUPS.some(has); // the algorithms group repeats its own measurements
    for (let rep = 0; repeated && rep < opts.reps; rep++) {
      log(`bench: repetition ${rep + 1} of ${opts.reps}`);
      if (has('p2p')) {
        await p2pGroup(rep, 'p2p', unixFloor!, p2pJob!, receiverFloors);
        await lateReceiveRow(rep, lateJob!);
      }
      if (has('stream')) await streamGroup(rep, unixFloor!, p2pJob!);
      if (has('tcp')) await p2pGroup(rep, 'tcp', tcpFloor!, tcpJob!);
      if (has('observe')) await observeGroup(rep, tmp);
      if (has('coll')) {
        await collGroup(rep, 2, unixFloor!, coll2!);
        await collGroup(rep, 4, unixFloor!, coll4!);
      }
      if (has('launch')) await launchGroup(rep);
      if (has('auc')) await aucGroup(rep, mpi);
      if (openmpiJobs) await openmpiGroup(rep, openmpiJobs);
      if (has('futures')) await futuresGroup(rep, futuresJobs!);
    }
    if (has('algorithms')) await algorithmsGroup();
    await Promise.all([p2pJob, lateJob, tcpJob, coll2, coll4, ...Object.values(futuresJobs ?? {})].map((j) => j?.close()));
    if (openmpiJobs) await closeOpenMpiJobs(openmpiJobs);
    for (const f of floors) f?.close();
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }

  const summaries = [...rows.values()].map(summarize);
  const text = table(summaries);
  process.stdout.write(`\n${text}\n\n`);
  const failed = summaries.filter((s) => s.pass === false).length;
  const judged = summaries.filter((s) => s.pass !== undefined).length;
  const verdict = judged > 0 ? `${judged - failed} of ${judged} targets met` : 'no targets in these groups';
  process.stdout.write(`${verdict}; medians of ${opts.reps} interleaved repetitions; ratio = median of per-repetition ours/floor.\n`);
  const cores1 = coreSpeeds();
  process.stdout.write(`${describeCores(cores0)} (at the start)\n${describeCores(cores1)} (at the end)\n`);
  if (summaries.some((s) => s.group === 'openmpi')) {
    process.stdout.write('openmpi rows: ours = tsmpi in the mode named, floor = Open MPI + mpi4py measured next to it; ratio = tsmpi time ÷ Open MPI time, on bandwidth rows too (≤ 1: tsmpi is faster).\n');
  }
  let commit = '';
  try { commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim(); } catch { /* not a clone */ }
  const result = {
    date: new Date().toISOString(),
    node: process.version, cpus: availableParallelism(), cpuModel: cpus()[0]?.model, commit,
    loadavg: { start: load0, end: loadavg() },
    cores: { start: cores0, end: cores1 },
    seconds: now() - started,
    options: { quick: opts.quick, only: [...opts.only], reps: opts.reps, budget: opts.budget },
    rows: summaries,
    table: text,
  };
  mkdirSync(dirname(opts.out), { recursive: true });
  writeFileSync(opts.out, `${JSON.stringify(result, null, 2)}\n`);
  log(`bench: wrote ${opts.out}${existsSync(opts.out) ? '' : ' (failed)'}`);
}

await main();
