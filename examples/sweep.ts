// A parameter sweep with a task pool (tsmpi/futures): an SIR epidemic model run for each of 800
// parameter sets, a grid of contact rate β (0.025 … 1.0, 40 values) × recovery rate γ (−0.02 … 0.36,
// 20 values). Rank 0 submits one call per parameter set and takes the outcomes as they complete
// (asCompleted); the model rejects a recovery rate that is not positive, so the grid's γ = −0.02 and
// γ = 0 columns fail, and their errors are collected and summarised rather than ending the sweep.
//
//   tsmpirun -np 3 examples/sweep.ts
//   → Ran 800 simulations with 2 workers: 720 done, 80 failed
//     Failed: 40 × RangeError: the recovery rate γ must be positive, got -0.02
//     …
//
// Everything printed is the same for any number of ranks (results are sorted before printing).
import { COMM_WORLD as comm } from 'tsmpi';
import { asCompleted, task, withExecutor } from 'tsmpi/futures';

interface Params {
  beta: number;
  gamma: number;
}

interface Outcome extends Params {
  /** Largest fraction infected at once, and the day it happened. */
  peak: number;
  peakDay: number;
  /** Fraction ever infected after a year. */
  attack: number;
}

/**
 * dS/dt = −βSI, dI/dt = βSI − γI, dR/dt = γI (fractions of the population), one infected in ten
 * thousand at day 0, a year in steps of 0.05 days (RK4).
 */
function simulate({ beta, gamma }: Params): Outcome {
  if (!(gamma > 0)) throw new RangeError(`the recovery rate γ must be positive, got ${gamma}`);
  const dt = 0.05, days = 365;
  let s = 1 - 1e-4, i = 1e-4;
  let peak = i, peakDay = 0;
  const ds = (s: number, i: number) => -beta * s * i;
  const di = (s: number, i: number) => beta * s * i - gamma * i;
  for (let step = 1; step <= days / dt; step++) {
    const k1s = ds(s, i), k1i = di(s, i);
    const k2s = ds(s + (dt / 2) * k1s, i + (dt / 2) * k1i), k2i = di(s + (dt / 2) * k1s, i + (dt / 2) * k1i);
    const k3s = ds(s + (dt / 2) * k2s, i + (dt / 2) * k2i), k3i = di(s + (dt / 2) * k2s, i + (dt / 2) * k2i);
    const k4s = ds(s + dt * k3s, i + dt * k3i), k4i = di(s + dt * k3s, i + dt * k3i);
    s += (dt / 6) * (k1s + 2 * k2s + 2 * k3s + k4s);
    i += (dt / 6) * (k1i + 2 * k2i + 2 * k3i + k4i);
    if (i > peak) {
      peak = i;
      peakDay = step * dt;
    }
  }
  return { beta, gamma, peak, peakDay, attack: 1 - s };
}

// Every rank registers the task at top level.
const simulateTask = task('simulate', simulate);

const grid: Params[] = [];
for (let b = 1; b <= 40; b++) {
  for (let g = 0; g < 20; g++) grid.push({ beta: b * 0.025, gamma: Math.round((g * 0.02 - 0.02) * 100) / 100 });
}

const sweep = await withExecutor(comm, async (executor) => {
  const futures = grid.map((params) => executor.submit(simulateTask, params));
  const outcomes: Outcome[] = [];
  const failures = new Map<string, number>();
  for await (const future of asCompleted(futures)) {
    try {
      outcomes.push(await future);
    } catch (error) {
      const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      failures.set(text, (failures.get(text) ?? 0) + 1);
    }
  }
  return { outcomes, failures, workers: executor.numWorkers };
});

if (sweep) {
  const { outcomes, failures, workers } = sweep;
  const failed = [...failures.values()].reduce((a, b) => a + b, 0);
  console.log(`Ran ${grid.length} simulations with ${workers} worker${workers === 1 ? '' : 's'}: ${outcomes.length} done, ${failed} failed`);
  for (const [text, n] of [...failures].sort(([a], [b]) => (a < b ? -1 : 1))) console.log(`Failed: ${n} × ${text}`);
  const r0 = (o: Outcome) => o.beta / o.gamma;
  const describe = (o: Outcome) => `β = ${o.beta.toFixed(3)}, γ = ${o.gamma.toFixed(2)}, R0 = ${r0(o).toFixed(2)}`;
  const byPeak = [...outcomes].sort((a, b) => b.peak - a.peak || a.beta - b.beta || a.gamma - b.gamma);
  console.log(`Highest peak: ${(100 * byPeak[0]!.peak).toFixed(1)}% infected on day ${byPeak[0]!.peakDay.toFixed(1)} (${describe(byPeak[0]!)})`);
  const below = outcomes.filter((o) => r0(o) <= 1);
  console.log(`At or below the epidemic threshold (R0 ≤ 1): ${below.length} parameter sets, at most ${(100 * Math.max(...below.map((o) => o.attack))).toFixed(2)}% ever infected`);
  const above = outcomes.filter((o) => r0(o) > 1);
  console.log(`Above it: ${above.length} parameter sets, on average ${(100 * above.reduce((a, o) => a + o.attack, 0) / above.length).toFixed(1)}% ever infected`);
}
