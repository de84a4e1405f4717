// Writing what a job recorded: the profile (a summary for stderr, the full report as text and JSON),
// the trace and the communication matrix, from the ranks' recordings. tsmpirun calls it once the job
// has ended (whatever arrived, also from a failed job); under a PMI launcher rank 0 calls it after the
// finalize fence.
import { writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Recording } from './format.js';
import { buildJobModel } from './job-model.js';
import { trafficMatrix, writeMatrix } from './matrix.js';
import { buildProfile, profileText } from './profile.js';
import { writeTrace } from './trace.js';

/** What to write, and where. */
export interface OutputPlan {
  /** Directory of the profile's full report; undefined: no profile. */
  profileDir: string | undefined;
  /** Trace file (.json, or .json.gz); undefined: no trace. */
  trace: string | undefined;
  /** Matrix SVG (its CSV goes beside it); undefined: no matrix. */
  matrix: string | undefined;
  /** The program, for titles and the report's file name. */
  script: string;
  size: number;
  /** Makes the report's file name unique (tsmpirun's pid, as mpiP uses the pid). */
  id: number;
}

/** The profile report's path without extension: DIR/script.N.ID.tsmpi-profile. */
export function profileBase(plan: OutputPlan): string {
  return join(plan.profileDir ?? '.', `${basename(plan.script).replace(/\.[^.]+$/, '')}.${plan.size}.${plan.id}.tsmpi-profile`);
}

/**
 * Writes every output of `plan` from the recordings (by rank; undefined for a rank that sent none) and
 * reports on `say` what it wrote. `notes` (e.g. the job failed) go into each output.
 */
export async function writeOutputs(plan: OutputPlan, recordings: readonly (Recording | undefined)[], notes: readonly string[], say: (text: string) => void): Promise<void> {
  const all = [...notes];
  const missing = [...Array(plan.size).keys()].filter((r) => !recordings[r]);
  if (missing.length === plan.size) {
    say(`tsmpi: no rank sent its recording, so no ${[plan.profileDir !== undefined && 'profile', plan.trace && 'trace', plan.matrix && 'matrix'].filter(Boolean).join(', ')} was written${notes.map((n) => `\n  ${n}`).join('')}`);
    return;
  }
  if (missing.length > 0) all.push(`rank${missing.length > 1 ? 's' : ''} ${missing.join(', ')} sent no recording (failed or ended before finalize): their part is missing`);
  const title = `${basename(plan.script)}, ${plan.size} rank${plan.size > 1 ? 's' : ''}, ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}`;
  const job = plan.trace !== undefined || plan.profileDir !== undefined ? buildJobModel(recordings) : undefined;
  const attempt = async (what: string, path: string, write: () => Promise<void>): Promise<void> => {
    try {
      await write();
    } catch (e) {
      say(`tsmpi: cannot write the ${what} ${path}: ${(e as Error).message}`);
    }
  };
  if (plan.trace !== undefined) {
    const path = plan.trace;
    await attempt('trace', path, async () => {
      // The clock offsets measured by ranks on other hosts: [rank, [local ms, offset ms, round trip ms]…].
      const clocks = recordings.filter((r) => r && r.meta.clock.length > 0).map((r) => [r!.meta.rank, r!.meta.clock]);
      const s = await writeTrace(path, job!, { title, ranks: plan.size, notes: all, ...(clocks.length ? { clocks } : {}) });
      say(`tsmpi: trace ${path}: ${s.events} events, ${s.flows} messages as arrows${s.notes.length ? ` (${s.notes.length} notes inside)` : ''}; open it in ui.perfetto.dev or chrome://tracing`);
    });
  }
  if (plan.matrix !== undefined) {
    const path = plan.matrix;
    await attempt('communication matrix', path, async () => {
      const csv = await writeMatrix(path, trafficMatrix(plan.size, recordings), `Communication matrix: ${title}`);
      say(`tsmpi: communication matrix ${path} (numbers in ${csv})`);
    });
  }
  if (plan.profileDir !== undefined) {
    const base = profileBase(plan);
    await attempt('profile', `${base}.txt`, async () => {
      const report = buildProfile(title, plan.size, recordings, job!, all);
      await writeFile(`${base}.txt`, profileText(report, false));
      await writeFile(`${base}.json`, `${JSON.stringify(report, null, 1)}\n`);
      say(`${profileText(report, true)}full report: ${base}.txt (and .json)`);
    });
  }
}
