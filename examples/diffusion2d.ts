// 2-D diffusion, domain-decomposed over a Cartesian grid of ranks.
//
//   tsmpirun -np 4 examples/diffusion2d.ts [--D 1] [--dx 0.0667] [--time 15] [--every 0.5]
//                                          [--png DIR] [--scale S] [--dump FILE]
//
// Solves ∂p/∂t = D ∇²p on [x1, x2]² = [−10, 10]² with p = 0 on the boundary, by explicit finite
// differences (5-point Laplacian, forward Euler) with dt = 0.25 dx²/D, the stability limit of the scheme.
//
// The mesh. The domain is cut into n = round((x2 − x1)/dx) cells per direction and the spacing actually
// used is (x2 − x1)/n, so that the boundary falls on grid points (the default --dx 0.0667 gives n = 300,
// dx = 0.0666…). Points 0 and n of each direction are the boundary (held at 0); the n − 1 points in
// between, in both directions, are the unknowns. Steps: round(time/dt); output every round(every/dt)
// steps (and after the last step).
//
// The initial condition p(x, y, 0) = a(x)·b(y), b being a with y for x, where
//
//     a(x) = 1 − |1 − 4·|(x − xm)/(x2 − x1)||,   x1 = −10, x2 = 10 the ends of the domain, xm = 0 its middle.
//
// Reading: u = (x − xm)/(x2 − x1) runs over [−½, ½]; the inner |u| folds the profile onto itself, so a is
// a "W": 0 at the walls (|u| = ½), 1 at |u| = ¼ (x = ±5), back to 0 in the middle (u = 0), linear in
// between. Its product gives four peaks of height 1 at (±5, ±5), which then spread, merge and drain out
// through the walls (the total mass, Σp·dx², goes down at every step).
//
// The decomposition. The ranks form a non-periodic 2-D Cartesian communicator of shape
// computeDims(size, 2) = [rows, columns]: dimension 0 splits y, dimension 1 splits x. Each rank owns a
// block of the unknowns (blocks differ by at most one point per direction when the grid does not divide
// evenly) plus a ring of one halo cell. Before every step neighbours swap edges with typed Sendrecv:
// rows are contiguous in memory and go as subarray views, columns are packed into contiguous buffers and
// unpacked. Neighbours come from shift(); past the walls shift() gives PROC_NULL, and a Sendrecv with
// PROC_NULL completes at once leaving the halo at its boundary value 0. Every point is updated with the
// same expression in the same order whatever the decomposition, so any number of ranks reproduces the
// one-rank result bit for bit.
//
// At output times the blocks are gathered to rank 0 (Gatherv), which prints `t=… mass=… max=…` and, with
// --png DIR, writes DIR/step-0000.png, step-0001.png, … (the density over the whole square including the
// walls, y upwards, a black–blue–red–yellow–white colour map from 0 to the initial maximum; --scale S
// draws each grid point as S×S pixels). --dump FILE makes rank 0 write the final field (the unknowns,
// row-major with y the slow index, as raw little-endian float64) for comparisons.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { COMM_WORLD as world, computeDims, Wtime } from 'tsmpi';

// ---------------------------------------------------------------------------------------------------
// Options

const { values: opts } = parseArgs({
  args: process.argv.slice(2),
  options: {
    D: { type: 'string', default: '1' },
    dx: { type: 'string', default: '0.0667' },
    time: { type: 'string', default: '15' },
    every: { type: 'string', default: '0.5' },
    png: { type: 'string' },
    scale: { type: 'string', default: '1' },
    dump: { type: 'string' },
  },
  strict: true,
  allowPositionals: false,
});

// pngjs is needed only for --png, so it is loaded only then (it is not a dependency of tsmpi).
type PngClass = typeof import('pngjs').PNG;
async function loadPng(): Promise<PngClass | undefined> {
  if (opts.png === undefined) return undefined;
  try {
    return (await import('pngjs')).default.PNG;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw e;
    // Every rank misses it alike: one line, from rank 0, written before any rank exits.
    if (world.rank === 0) console.error('--png needs the pngjs package: npm install pngjs');
    await world.barrier();
    process.exit(2);
  }
}
const PNG = await loadPng();

function positive(name: string, text: string): number {
  const v = Number(text);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number, got ${JSON.stringify(text)}`);
  return v;
}

const D = positive('D', opts.D);
const time = positive('time', opts.time);
const every = positive('every', opts.every);
const scale = positive('scale', opts.scale);
if (!Number.isInteger(scale)) throw new Error(`--scale must be a positive integer, got ${opts.scale}`);

const X1 = -10, X2 = 10, XM = (X1 + X2) / 2, LENGTH = X2 - X1;
const cells = Math.round(LENGTH / positive('dx', opts.dx));
if (cells < 2) throw new Error(`--dx ${opts.dx} leaves no interior point in [${X1}, ${X2}]`);
const dx = LENGTH / cells;
const M = cells - 1; // unknowns per direction
const dt = (0.25 * dx * dx) / D;
const r = (D * dt) / (dx * dx);
const nSteps = Math.round(time / dt);
const outEvery = Math.max(1, Math.round(every / dt));

/** The initial profile along one direction (see the header): 0 at the walls and the middle, 1 at ±5. */
function a(x: number): number {
  return 1 - Math.abs(1 - 4 * Math.abs((x - XM) / LENGTH));
}

/** Coordinate of unknown k (0 … M−1) along either direction. */
function coordinate(k: number): number {
  return X1 + (k + 1) * dx;
}

// ---------------------------------------------------------------------------------------------------
// Decomposition

/** Block `index` of `parts` over `total` points: the first `total % parts` blocks get one point more. */
function block(total: number, parts: number, index: number): { start: number; count: number } {
  const q = Math.floor(total / parts), rem = total % parts;
  return { start: index * q + Math.min(index, rem), count: q + (index < rem ? 1 : 0) };
}

const dims = computeDims(world.size, 2);
const [rowsOfRanks, colsOfRanks] = dims as [number, number];
if (M < rowsOfRanks || M < colsOfRanks) {
  throw new Error(`a ${M}×${M} grid cannot be split over ${rowsOfRanks}×${colsOfRanks} ranks: use a smaller --dx or fewer ranks`);
}
const cart = (await world.createCart(dims, [false, false]))!; // prod(dims) = size: every rank is in it
const [myRow, myCol] = cart.coords as [number, number];
const rows = block(M, rowsOfRanks, myRow), cols = block(M, colsOfRanks, myCol);
const ny = rows.count, nx = cols.count;
const W = nx + 2; // local row length, halo included

let p = new Float64Array((ny + 2) * W);
let q = new Float64Array((ny + 2) * W);
for (let i = 0; i < ny; i++) {
  const y = coordinate(rows.start + i);
  for (let j = 0; j < nx; j++) p[(i + 1) * W + j + 1] = a(coordinate(cols.start + j)) * a(y);
}

const { source: north, dest: south } = cart.shift(0, 1); // north: row of blocks above (lower y index)
const { source: west, dest: east } = cart.shift(1, 1);
const sendWest = new Float64Array(ny), sendEast = new Float64Array(ny);
const recvWest = new Float64Array(ny), recvEast = new Float64Array(ny);
const TAG_SOUTHWARD = 1, TAG_NORTHWARD = 2, TAG_EASTWARD = 3, TAG_WESTWARD = 4;

/** Fills the halo of `u` from the neighbours (the halo next to a wall stays 0). */
async function exchangeHalos(u: Float64Array): Promise<void> {
  for (let i = 0; i < ny; i++) {
    sendWest[i] = u[(i + 1) * W + 1]!;
    sendEast[i] = u[(i + 1) * W + nx]!;
  }
  const row = (i: number) => u.subarray(i * W + 1, i * W + 1 + nx);
  await Promise.all([
    cart.Sendrecv(row(ny), south, TAG_SOUTHWARD, row(0), north, TAG_SOUTHWARD),
    cart.Sendrecv(row(1), north, TAG_NORTHWARD, row(ny + 1), south, TAG_NORTHWARD),
    cart.Sendrecv(sendEast, east, TAG_EASTWARD, recvWest, west, TAG_EASTWARD),
    cart.Sendrecv(sendWest, west, TAG_WESTWARD, recvEast, east, TAG_WESTWARD),
  ]);
  for (let i = 0; i < ny; i++) {
    u[(i + 1) * W] = recvWest[i]!; // zeros when west is PROC_NULL: nothing was ever received
    u[(i + 1) * W + nx + 1] = recvEast[i]!;
  }
}

/** One explicit step from `u` into `v` (interior only). The expression is the same for every point. */
function step(u: Float64Array, v: Float64Array): void {
  for (let i = 1; i <= ny; i++) {
    for (let k = i * W + 1, end = i * W + nx; k <= end; k++) {
      const c = u[k]!;
      v[k] = c + r * (u[k - W]! + u[k + W]! + (u[k - 1]! + u[k + 1]!) - 4 * c);
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Output: gather to rank 0

const counts: number[] = [], displs: number[] = [], origins: { row: number; col: number; ny: number; nx: number }[] = [];
for (let rank = 0, offset = 0; rank < cart.size; rank++) {
  const [rr, cc] = cart.getCoords(rank) as [number, number];
  const br = block(M, rowsOfRanks, rr), bc = block(M, colsOfRanks, cc);
  counts.push(br.count * bc.count);
  displs.push(offset);
  origins.push({ row: br.start, col: bc.start, ny: br.count, nx: bc.count });
  offset += br.count * bc.count;
}
const mine = new Float64Array(nx * ny);
const packed = cart.rank === 0 ? new Float64Array(M * M) : null;
const field = cart.rank === 0 ? new Float64Array(M * M) : null; // row-major, y index slow

/** Gathers the field to rank 0 (every rank calls it); returns it there, null elsewhere. */
async function gatherField(u: Float64Array): Promise<Float64Array | null> {
  for (let i = 0; i < ny; i++) mine.set(u.subarray((i + 1) * W + 1, (i + 1) * W + 1 + nx), i * nx);
  await cart.Gatherv(mine, packed ? [packed, counts, displs] : null, 0);
  if (!packed || !field) return null;
  origins.forEach((o, rank) => {
    for (let i = 0; i < o.ny; i++) {
      field.set(packed.subarray(displs[rank]! + i * o.nx, displs[rank]! + (i + 1) * o.nx), (o.row + i) * M + o.col);
    }
  });
  return field;
}

/** Black → blue → red → yellow → white. */
const STOPS: [number, number, number][] = [[0, 0, 0], [30, 40, 200], [220, 30, 40], [250, 220, 40], [255, 255, 255]];
function colour(v: number): [number, number, number] {
  const s = Math.min(1, Math.max(0, v)) * (STOPS.length - 1);
  const i = Math.min(STOPS.length - 2, Math.floor(s)), f = s - i;
  const [c0, c1] = [STOPS[i]!, STOPS[i + 1]!];
  return [0, 1, 2].map((k) => Math.round(c0[k]! + (c1[k]! - c0[k]!) * f)) as [number, number, number];
}

function writePng(PNG: PngClass, f: Float64Array, path: string): void {
  const side = (M + 2) * scale; // walls included
  const png = new PNG({ width: side, height: side });
  for (let py = 0; py < side; py++) {
    const iy = M + 1 - Math.floor(py / scale); // grid index 0 … M+1, y upwards (top row: y = x2); unknowns 1 … M
    for (let px = 0; px < side; px++) {
      const ix = Math.floor(px / scale);
      const v = iy >= 1 && iy <= M && ix >= 1 && ix <= M ? f[(iy - 1) * M + ix - 1]! : 0;
      const [R, G, B] = colour(v); // the initial maximum is 1
      const o = (py * side + px) * 4;
      png.data[o] = R; png.data[o + 1] = G; png.data[o + 2] = B; png.data[o + 3] = 255;
    }
  }
  writeFileSync(path, PNG.sync.write(png));
}

let frame = 0;
async function output(stepIndex: number, u: Float64Array): Promise<void> {
  const f = await gatherField(u);
  if (!f) return;
  let sum = 0, max = 0;
  for (let k = 0; k < f.length; k++) {
    sum += f[k]!;
    if (f[k]! > max) max = f[k]!;
  }
  console.log(`t=${+(stepIndex * dt).toFixed(6)} step=${stepIndex} mass=${(sum * dx * dx).toFixed(10)} max=${max.toFixed(10)}`);
  if (PNG !== undefined) writePng(PNG, f, join(opts.png!, `step-${String(frame).padStart(4, '0')}.png`));
  frame++;
}

// ---------------------------------------------------------------------------------------------------
// Run

if (cart.rank === 0) {
  console.log(`diffusion2d: ${M}x${M} unknowns, dx=${dx} dt=${dt} D=${D} steps=${nSteps} output every ${outEvery} steps, `
    + `${cart.size} rank(s) as ${rowsOfRanks}x${colsOfRanks} blocks`);
  if (opts.png !== undefined) mkdirSync(opts.png, { recursive: true });
}
const started = Wtime();
await output(0, p);
for (let k = 1; k <= nSteps; k++) {
  await exchangeHalos(p);
  step(p, q);
  [p, q] = [q, p];
  if (k % outEvery === 0 || k === nSteps) await output(k, p);
}
if (opts.dump !== undefined) {
  const f = await gatherField(p);
  if (f) writeFileSync(opts.dump, new Uint8Array(f.buffer, f.byteOffset, f.byteLength));
}
if (cart.rank === 0) console.log(`done: ${nSteps} steps in ${(Wtime() - started).toFixed(3)} s`);
