// How fast each core is, measured at the start of a bench run: the same short loop pinned to each core
// in turn (taskset). A VM's cores need not run at the same speed: on 2026-12-08 this machine's second
// core ran the prime check 50% slower than its first (120–126 against 80–82 ms a pass, pinned), for
// an hour, while an hour earlier the two were within 5% of each other. A parallel row then measures
// the slow core as much as the runtime, so the run records the cores' speeds and says when they differ.
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';

/** The loop, as a program: x ** 10 over a range, as the futures rows compute, and its milliseconds. */
const PROBE = 'const t=performance.now();let s=0;for(let i=0;i<1e6;i++)s+=(i%3000)**10;process.stdout.write(String(performance.now()-t+(s<0?1:0)))';
/** Cores whose probes differ by more than this factor are reported as uneven. */
export const UNEVEN_FACTOR = 1.15;

export interface CoreSpeeds {
  /** Per core: the probe's milliseconds, the faster of two runs. */
  ms: number[];
  /** Slowest ÷ fastest. */
  spread: number;
}

/** Each core's probe time; undefined where taskset is missing or a probe fails. */
export function coreSpeeds(): CoreSpeeds | undefined {
  const ms: number[] = [];
  for (let core = 0; core < availableParallelism(); core++) {
    let best = Infinity;
    for (let run = 0; run < 2; run++) {
      const probe = spawnSync('taskset', ['-c', String(core), process.execPath, '-e', PROBE], { encoding: 'utf8' });
      const t = Number(probe.stdout);
      if (probe.status !== 0 || !(t > 0)) return undefined;
      best = Math.min(best, t);
    }
    ms.push(best);
  }
  return { ms, spread: Math.max(...ms) / Math.min(...ms) };
}

/** One line on the cores' speeds, with a warning when they are uneven. */
export function describeCores(speeds: CoreSpeeds | undefined): string {
  if (!speeds) return 'cores: not measured (taskset not found)';
  const each = speeds.ms.map((t, core) => `core ${core} ${t.toFixed(1)} ms`).join(', ');
  const uneven = speeds.spread > UNEVEN_FACTOR
    ? ` — UNEVEN: the slowest core is ${speeds.spread.toFixed(2)}× the fastest; rows that use every core measure it too`
    : '';
  return `cores: the same loop pinned to each: ${each}${uneven}`;
}
