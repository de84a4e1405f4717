// --comm-matrix FILE.svg: bytes sent from each rank (rows) to each rank (columns), as two heat maps —
// the program's own messages, and the messages collectives exchange inside themselves — on one log
// colour scale with its legend, and the numbers in FILE.csv beside it (from,to,bytes,messages,kind).
// The totals come from every rank's exact running counts (recorder.ts), never from capped events.
import { writeFile } from 'node:fs/promises';
import type { Recording } from './format.js';

/** Traffic between every pair of ranks; NaN in the rows of ranks that sent no recording. */
export interface TrafficMatrix {
  size: number;
  /** [kind][from * size + to], kind 0 user, 1 collective. */
  bytes: [Float64Array, Float64Array];
  messages: [Float64Array, Float64Array];
  missing: number[];
}

export const KINDS = ['user', 'collective'] as const;

/** The matrix of a job's recordings. */
export function trafficMatrix(size: number, recordings: readonly (Recording | undefined)[]): TrafficMatrix {
  const make = (): [Float64Array, Float64Array] => [new Float64Array(size * size).fill(NaN), new Float64Array(size * size).fill(NaN)];
  const m: TrafficMatrix = { size, bytes: make(), messages: make(), missing: [] };
  for (let from = 0; from < size; from++) {
    const meta = recordings[from]?.meta;
    if (!meta) { m.missing.push(from); continue; }
    for (let to = 0; to < size; to++) {
      for (let kind = 0; kind < 2; kind++) {
        m.bytes[kind]![from * size + to] = meta.matrixBytes[2 * to + kind]!;
        m.messages[kind]![from * size + to] = meta.matrixMessages[2 * to + kind]!;
      }
    }
  }
  return m;
}

/** "1.5 MiB", "512 B". */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let u = 0;
  while (n >= 1024 && u < units.length - 1) { n /= 1024; u++; }
  return u === 0 ? `${n} B` : `${n < 10 ? n.toFixed(1) : Math.round(n)} ${units[u]}`;
}

/** Viridis, sampled: dark for little, yellow for much. */
const STOPS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]] as const;

function colour(x: number): string {
  const t = Math.min(1, Math.max(0, x)) * (STOPS.length - 1);
  const i = Math.min(STOPS.length - 2, Math.floor(t)), f = t - i;
  const c = STOPS[i]!.map((v, k) => Math.round(v + (STOPS[i + 1]![k]! - v) * f));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

const escapeXml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The heat maps as an SVG document. */
export function matrixSvg(m: TrafficMatrix, title: string): string {
  const n = m.size;
  const cell = Math.max(6, Math.min(44, Math.floor(440 / n)));
  const labels = n <= 32, numbers = n <= 12;
  const margin = { left: 64, top: 100 };
  const panel = n * cell;
  const gap = 70;
  const legendWidth = 90;
  const width = Math.max(640, margin.left + 2 * panel + gap + legendWidth + 40);
  const height = margin.top + Math.max(panel, 120) + 40;
  let min = Infinity, max = 0;
  for (const kind of m.bytes) for (const v of kind) if (v > 0) { min = Math.min(min, v); max = Math.max(max, v); }
  const any = max > 0;
  const lo = any ? Math.log10(min) : 0;
  const hi = any ? Math.log10(max) : 1;
  const scale = (v: number): number => (hi > lo ? (Math.log10(v) - lo) / (hi - lo) : 1);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="100%" height="100%" fill="white"/>`);
  out.push(`<text x="${margin.left}" y="22" font-size="15" font-weight="bold">${escapeXml(title)}</text>`);
  out.push(`<text x="${margin.left}" y="42" fill="#444">bytes sent from each rank (rows) to each rank (columns)</text>`);
  out.push(`<text x="${margin.left}" y="58" fill="#444">one log colour scale for both; white: nothing sent${m.missing.length ? '; grey: no recording' : ''}</text>`);
  for (let kind = 0; kind < 2; kind++) {
    const x0 = margin.left + kind * (panel + gap), y0 = margin.top;
    out.push(`<text x="${x0 + panel / 2}" y="${y0 - 24}" text-anchor="middle" font-weight="bold">${kind === 0 ? 'program messages (user)' : 'inside collectives'}</text>`);
    out.push(`<text x="${x0 + panel / 2}" y="${y0 - 6}" text-anchor="middle" fill="#444" font-size="11">to rank →</text>`);
    for (let from = 0; from < n; from++) {
      for (let to = 0; to < n; to++) {
        const v = m.bytes[kind]![from * n + to]!;
        const fill = Number.isNaN(v) ? '#bbbbbb' : v > 0 ? colour(scale(v)) : '#ffffff';
        const msgs = m.messages[kind]![from * n + to]!;
        const tip = Number.isNaN(v) ? `rank ${from}: no recording` : `${from} → ${to}: ${formatBytes(v)} in ${msgs} messages (${KINDS[kind]})`;
        out.push(`<rect x="${x0 + to * cell}" y="${y0 + from * cell}" width="${cell}" height="${cell}" fill="${fill}" stroke="#e0e0e0" stroke-width="0.5"><title>${escapeXml(tip)}</title></rect>`);
        if (numbers && v > 0) {
          const dark = scale(v) < 0.6;
          out.push(`<text x="${x0 + to * cell + cell / 2}" y="${y0 + from * cell + cell / 2 + 3}" text-anchor="middle" font-size="${Math.max(7, Math.min(10, cell / 4.5))}" fill="${dark ? 'white' : 'black'}">${escapeXml(formatBytes(v).replace(' ', ''))}</text>`);
        }
      }
      if (labels) out.push(`<text x="${x0 - 5}" y="${y0 + from * cell + cell / 2 + 4}" text-anchor="end" font-size="11">${from}</text>`);
    }
    if (labels) for (let to = 0; to < n; to++) out.push(`<text x="${x0 + to * cell + cell / 2}" y="${y0 + panel + 14}" text-anchor="middle" font-size="11">${to}</text>`);
    out.push(`<rect x="${x0}" y="${y0}" width="${panel}" height="${panel}" fill="none" stroke="#666"/>`);
  }
  out.push(`<text x="${margin.left - 40}" y="${margin.top + panel / 2}" text-anchor="middle" fill="#444" font-size="11" transform="rotate(-90 ${margin.left - 40} ${margin.top + panel / 2})">from rank →</text>`);
  // Legend: a colour bar from the smallest to the largest non-zero cell.
  const lx = margin.left + 2 * panel + gap + 10, ly = margin.top, lh = Math.max(120, panel);
  out.push(`<defs><linearGradient id="scale" x1="0" y1="1" x2="0" y2="0">${STOPS.map((_, i) => `<stop offset="${i / (STOPS.length - 1)}" stop-color="${colour(i / (STOPS.length - 1))}"/>`).join('')}</linearGradient></defs>`);
  out.push(`<rect x="${lx}" y="${ly}" width="16" height="${lh}" fill="url(#scale)" stroke="#666"/>`);
  const ticks = any ? Math.max(2, Math.min(6, Math.ceil(hi - lo) + 1)) : 2;
  for (let i = 0; i < ticks; i++) {
    const f = i / (ticks - 1);
    const v = any ? 10 ** (lo + f * (hi - lo)) : 0;
    const y = ly + lh - f * lh;
    out.push(`<line x1="${lx + 16}" y1="${y}" x2="${lx + 21}" y2="${y}" stroke="#666"/>`);
    out.push(`<text x="${lx + 24}" y="${y + 4}" font-size="11">${escapeXml(formatBytes(Math.round(v)))}</text>`);
  }
  out.push(`<text x="${lx}" y="${ly - 8}" font-size="11" fill="#444">bytes</text>`);
  out.push('</svg>\n');
  return out.join('\n');
}

/** The numbers, one line per pair and kind: from,to,bytes,messages,kind (ranks without a recording left out). */
export function matrixCsv(m: TrafficMatrix): string {
  const lines = ['from,to,bytes,messages,kind'];
  for (let kind = 0; kind < 2; kind++) {
    for (let from = 0; from < m.size; from++) {
      for (let to = 0; to < m.size; to++) {
        const b = m.bytes[kind]![from * m.size + to]!;
        if (!Number.isNaN(b)) lines.push(`${from},${to},${b},${m.messages[kind]![from * m.size + to]},${KINDS[kind]}`);
      }
    }
  }
  return `${lines.join('\n')}\n`;
}

/** The CSV beside an SVG path: same name, .csv. */
export function csvPathFor(svgPath: string): string {
  return svgPath.replace(/\.svg$/i, '') + '.csv';
}

/** Writes FILE.svg and FILE.csv; returns the CSV's path. */
export async function writeMatrix(svgPath: string, m: TrafficMatrix, title: string): Promise<string> {
  const csv = csvPathFor(svgPath);
  await Promise.all([writeFile(svgPath, matrixSvg(m, title)), writeFile(csv, matrixCsv(m))]);
  return csv;
}
