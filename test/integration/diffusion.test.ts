// examples/diffusion2d.ts in real jobs (issue 4): the domain-decomposed 2-D diffusion equals the one-rank
// result (max abs difference ≤ 1e-12; in fact bit for bit) on 2, 3, 4 and 6 ranks, for grids that do and
// do not divide evenly over the rank grid; output lines at every output time with the mass going down;
// --png writes valid images of the right size that show the four peaks; bad flags fail cleanly.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pngjs from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { assertNothingLeft, disposeAllJobs, leftovers, linesOf, REPO, runJob, type Job } from '../helpers/job.js';

const { PNG } = pngjs;
const EXAMPLE = join(REPO, 'examples', 'diffusion2d.ts');
const work = mkdtempSync(join(tmpdir(), 'tsmpi-diffusion-test-'));
afterAll(async () => {
  await disposeAllJobs();
  rmSync(work, { recursive: true, force: true });
});

/**
 * assertNothingLeft, at once for every process but the launcher's job-directory reaper (`cat`), which
 * outlives tsmpirun for a moment (a launcher bug, see test/integration/comm.test.ts "job hygiene").
 */
async function nothingLeft(result: { job: Job }): Promise<void> {
  const isReaper = (cmdline: string) => cmdline === 'cat' || cmdline.startsWith('/bin/sh -c cat >/dev/null;');
  const early = leftovers(result.job).processes.filter((p) => !isReaper(p.cmdline));
  expect(early, 'processes of the job still running when tsmpirun had exited').toEqual([]);
  await assertNothingLeft(result, { graceMs: 2000 });
}

interface Grid {
  name: string;
  args: string[];
  /** Unknowns per direction. */
  M: number;
  /** Expected output times. */
  times: number[];
}

// 79 is prime: no rank grid divides it evenly. 80 divides evenly over 1, 2 and 4 ranks ([2,1], [2,2])
// and over 6 ([3,2]) only along x.
const GRIDS: Grid[] = [
  { name: '79x79', args: ['--dx', '0.25', '--time', '0.5', '--every', '0.125'], M: 79, times: [0, 0.125, 0.25, 0.375, 0.5] },
  { name: '80x80', args: ['--dx', '0.2469', '--D', '0.5', '--time', '0.2', '--every', '0.05'], M: 80, times: [] },
];

interface Run {
  np: number;
  lines: string[];
  field: Float64Array;
}

let counter = 0;

async function run(np: number, grid: Grid, extra: string[] = []): Promise<Run> {
  const dump = join(work, `dump-${counter++}.bin`);
  const result = await runJob({ np, script: EXAMPLE, args: [...grid.args, '--dump', dump, ...extra], timeoutMs: 60_000 });
  await nothingLeft(result);
  const text = `diffusion2d ${grid.name} on ${np} ranks\n--- stdout ---\n${result.stdout}--- stderr ---\n${result.stderr}`;
  expect(result.code, text).toBe(0);
  const bytes = readFileSync(dump);
  rmSync(dump);
  expect(bytes.byteLength, text).toBe(grid.M * grid.M * 8);
  const field = new Float64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  return { np, lines: linesOf(result.stdout), field };
}

const serial = new Map<string, Promise<Run>>();
function serialRun(grid: Grid): Promise<Run> {
  if (!serial.has(grid.name)) serial.set(grid.name, run(1, grid));
  return serial.get(grid.name)!;
}

function maxAbsDiff(a: Float64Array, b: Float64Array): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

/** The `t=… step=… mass=… max=…` lines, parsed. */
function outputs(lines: string[]): { t: number; step: number; mass: number; max: number }[] {
  return lines.filter((l) => l.startsWith('t=')).map((l) => {
    const m = /^t=(\S+) step=(\d+) mass=(\S+) max=(\S+)$/.exec(l);
    expect(m, `output line ${JSON.stringify(l)}`).not.toBeNull();
    return { t: Number(m![1]), step: Number(m![2]), mass: Number(m![3]), max: Number(m![4]) };
  });
}

const resultLines = (lines: string[]) => lines.filter((l) => l.startsWith('t='));

describe('diffusion2d equals the serial result', () => {
  for (const grid of GRIDS) {
    for (const np of [2, 3, 4, 6]) {
      it(`${grid.name} on ${np} ranks`, async () => {
        const [reference, parallel] = [await serialRun(grid), await run(np, grid)];
        const diff = maxAbsDiff(parallel.field, reference.field);
        expect(diff).toBeLessThanOrEqual(1e-12);
        expect(diff).toBe(0); // the same arithmetic per point: bit for bit
        expect(resultLines(parallel.lines)).toEqual(resultLines(reference.lines));
        expect(parallel.lines[0]).toContain(`${np} rank(s) as `);
        // the field is not trivial: something diffused, nothing blew up
        const max = parallel.field.reduce((a, b) => Math.max(a, b), 0);
        expect(max).toBeGreaterThan(0.1);
        expect(max).toBeLessThan(1);
      });
    }
  }
});

describe('diffusion2d output', () => {
  it('prints time, mass and max at every output time; the mass goes down', async () => {
    const grid = GRIDS[0]!;
    const { lines } = await serialRun(grid);
    expect(lines[0]).toMatch(/^diffusion2d: 79x79 unknowns, dx=0.25 dt=0.015625 D=1 steps=32 output every 8 steps, 1 rank\(s\) as 1x1 blocks$/);
    const out = outputs(lines);
    expect(out.map((o) => o.t)).toEqual(grid.times);
    expect(out.map((o) => o.step)).toEqual([0, 8, 16, 24, 32]);
    // the initial condition a(x)·a(y): (∫a)² = 10² = 100, exact on this grid (a's kinks lie on grid points)
    expect(out[0]!.max).toBe(1);
    expect(out[0]!.mass).toBeCloseTo(100, 8);
    for (let i = 1; i < out.length; i++) {
      expect(out[i]!.mass, `mass at t=${out[i]!.t}`).toBeLessThan(out[i - 1]!.mass);
      expect(out[i]!.max, `max at t=${out[i]!.t}`).toBeLessThan(out[i - 1]!.max);
    }
    expect(lines.at(-1)).toMatch(/^done: 32 steps in [0-9.]+ s$/);
  });

  it('an output time that is not a multiple of --every still ends with the last step', async () => {
    const grid: Grid = { name: '39x39', args: ['--dx', '0.5', '--time', '0.6', '--every', '0.25'], M: 39, times: [] };
    // dt = 0.0625: 10 steps, output every 4 steps, then the last one
    const [one, four] = [await run(1, grid), await run(4, grid)];
    expect(outputs(one.lines).map((o) => o.step)).toEqual([0, 4, 8, 10]);
    expect(resultLines(four.lines)).toEqual(resultLines(one.lines));
    expect(maxAbsDiff(four.field, one.field)).toBe(0);
  });

  it('the default grid (299x299) on 4 ranks equals 1 rank over a short time', async () => {
    const grid: Grid = { name: 'default', args: ['--time', '0.5', '--every', '0.25'], M: 299, times: [] };
    const [one, four] = [await run(1, grid), await run(4, grid)];
    expect(one.lines[0]).toMatch(/^diffusion2d: 299x299 unknowns, dx=0.0666666\d* dt=0.00111111\d* D=1 steps=450 output every 225 steps/);
    expect(four.lines[0]).toContain('4 rank(s) as 2x2 blocks');
    expect(outputs(four.lines).map((o) => o.t)).toEqual([0, 0.25, 0.5]);
    expect(resultLines(four.lines)).toEqual(resultLines(one.lines));
    expect(maxAbsDiff(four.field, one.field)).toBe(0);
  });

  it('--png writes one valid image per output time, showing four peaks', async () => {
    const grid = GRIDS[0]!;
    const dir = join(work, 'png');
    await run(4, grid, ['--png', dir, '--scale', '2']);
    const files = readdirSync(dir).sort();
    expect(files).toEqual(['step-0000.png', 'step-0001.png', 'step-0002.png', 'step-0003.png', 'step-0004.png']);
    const side = (grid.M + 2) * 2; // walls included, 2×2 pixels per grid point
    const images = files.map((f) => PNG.sync.read(readFileSync(join(dir, f))));
    for (const png of images) expect([png.width, png.height]).toEqual([side, side]);
    // Brightness (R+G+B) at grid point (ix, iy), y upwards, walls at 0 and M+1.
    const brightness = (png: (typeof images)[number], ix: number, iy: number) => {
      const px = ix * 2, py = (grid.M + 1 - iy) * 2;
      const o = (py * png.width + px) * 4;
      expect(png.data[o + 3]).toBe(255);
      return png.data[o]! + png.data[o + 1]! + png.data[o + 2]!;
    };
    // dx = 0.25: x = ±5 is grid point 20 or 60; the middle (x = 0) is 40
    const first = images[0]!;
    const peaks = [[20, 20], [20, 60], [60, 20], [60, 60]].map(([x, y]) => brightness(first, x!, y!));
    for (const b of peaks) expect(b).toBe(3 * 255); // value 1: white
    for (const [x, y] of [[40, 40], [0, 0], [40, 20], [20, 40], [grid.M + 1, 60]]) expect(brightness(first, x!, y!)).toBe(0); // zeros: black
    // the peaks fade from frame to frame
    const peakOf = (png: (typeof images)[number]) => brightness(png, 20, 60);
    for (let i = 1; i < images.length; i++) expect(peakOf(images[i]!)).toBeLessThan(peakOf(images[i - 1]!));
  });

  it('bad flags fail on every rank with a clear message, leaving nothing behind', async () => {
    for (const args of [['--dx', 'abc'], ['--bogus', '1'], ['--dx', '15'], ['--dx', '10'], ['--time=-1']]) {
      const result = await runJob({ np: 2, script: EXAMPLE, args, timeoutMs: 30_000 });
      await nothingLeft(result);
      const text = `${args.join(' ')}\n--- stdout ---\n${result.stdout}--- stderr ---\n${result.stderr}`;
      expect(result.code, text).not.toBe(0);
      expect(result.stderr, text).toMatch(/--dx must be a positive number|Unknown option '--bogus'|--time must be a positive number|leaves no interior point|cannot be split over 2×1 ranks/);
    }
  });
});
