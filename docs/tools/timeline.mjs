// Renders a window of a tsmpi trace (tsmpirun --trace FILE) as an SVG timeline, the way the trace
// viewers draw it: one row per rank and lane, a bar per call, message ends as ticks and an arrow from
// each send to its delivery. Used to make the README's picture, since ui.perfetto.dev needs a browser
// online; headless Chromium turns the SVG into a PNG (see docs/observe.md).
//
//   node docs/tools/timeline.mjs TRACE.json[.gz] OUT.svg [--from MS] [--to MS] [--width PX]
import { readFileSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

const [input, output, ...rest] = process.argv.slice(2);
if (!input || !output) {
  process.stderr.write('usage: node docs/tools/timeline.mjs TRACE.json[.gz] OUT.svg [--from MS] [--to MS] [--width PX]\n');
  process.exit(2);
}
const option = (name, fallback) => {
  const i = rest.indexOf(`--${name}`);
  return i >= 0 ? Number(rest[i + 1]) : fallback;
};
const raw = readFileSync(input);
const trace = JSON.parse((raw[0] === 0x1f ? gunzipSync(raw) : raw).toString('utf8'));
const events = trace.traceEvents;
const slices = events.filter((e) => e.ph === 'X');
const first = Math.min(...slices.map((e) => e.ts)), last = Math.max(...slices.map((e) => e.ts + e.dur));
const from = first + option('from', 0) * 1000;
const to = Math.min(last, first + option('to', (last - first) / 1000) * 1000);
const width = option('width', 1400);

// Rows: every thread, ordered by rank then lane, named as the trace names them.
const threadName = new Map(events.filter((e) => e.ph === 'M' && e.name === 'thread_name').map((e) => [e.tid, e.args.name]));
const tids = [...threadName.keys()].sort((a, b) => a - b);
const rowHeight = 34, top = 46, left = 110, right = 20;
const rowOf = new Map(tids.map((tid, i) => [tid, i]));
const height = top + tids.length * rowHeight + 40;
const x = (ts) => left + ((ts - from) / (to - from)) * (width - left - right);
const palette = ['#4e79a7', '#f28e2b', '#59a14f', '#b07aa1', '#76b7b2', '#edc948', '#ff9da7', '#9c755f', '#e15759'];
const colours = new Map();
const colourOf = (name) => {
  if (!colours.has(name)) colours.set(name, palette[colours.size % palette.length]);
  return colours.get(name);
};
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;');

const out = [];
out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`);
out.push('<rect width="100%" height="100%" fill="white"/>');
out.push('<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#222"/></marker></defs>');
out.push(`<text x="${left}" y="18" font-size="14" font-weight="bold">${esc(trace.otherData?.title ?? input)}</text>`);
out.push(`<text x="${left}" y="34" fill="#555">${((to - from) / 1000).toFixed(2)} ms from ${((from - first) / 1000).toFixed(2)} ms; bars: calls; arrows: messages from send to delivery</text>`);
tids.forEach((tid, i) => {
  const y = top + i * rowHeight;
  out.push(`<rect x="0" y="${y}" width="${width}" height="${rowHeight}" fill="${i % 2 ? '#f6f6f6' : '#ffffff'}"/>`);
  out.push(`<text x="8" y="${y + rowHeight / 2 + 4}">${esc(threadName.get(tid))}</text>`);
});
const visible = (e) => e.ts + (e.dur ?? 0) >= from && e.ts <= to && rowOf.has(e.tid);
for (const e of slices.filter((s) => s.cat === 'comm' && visible(s))) {
  const y = top + rowOf.get(e.tid) * rowHeight + 5;
  const x0 = Math.max(left, x(e.ts)), x1 = Math.min(width - right, x(e.ts + e.dur));
  const w = Math.max(1, x1 - x0);
  out.push(`<rect x="${x0.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${rowHeight - 10}" fill="${colourOf(e.name)}" opacity="0.85"><title>${esc(`${e.name} ${JSON.stringify(e.args)}`)}</title></rect>`);
  if (w > 8 * e.name.length) out.push(`<text x="${x0 + 3}" y="${y + rowHeight / 2}" fill="white" font-size="11">${esc(e.name)}</text>`);
}
for (const e of slices.filter((s) => s.cat === 'msg' && visible(s))) {
  const y = top + rowOf.get(e.tid) * rowHeight;
  out.push(`<line x1="${x(e.ts).toFixed(1)}" y1="${y + 3}" x2="${x(e.ts).toFixed(1)}" y2="${y + rowHeight - 3}" stroke="#222" stroke-width="1"/>`);
}
const starts = new Map(events.filter((e) => e.ph === 's').map((e) => [e.id, e]));
for (const f of events.filter((e) => e.ph === 'f')) {
  const s = starts.get(f.id);
  if (!s || !visible(s) || !visible(f)) continue;
  const y1 = top + rowOf.get(s.tid) * rowHeight + rowHeight / 2, y2 = top + rowOf.get(f.tid) * rowHeight + rowHeight / 2;
  out.push(`<line x1="${x(s.ts).toFixed(1)}" y1="${y1}" x2="${x(f.ts).toFixed(1)}" y2="${y2}" stroke="#222" stroke-width="0.9" marker-end="url(#arrow)"/>`);
}
// Time axis in ms.
const step = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000].find((s) => (to - from) / 1000 / s <= 12) ?? 1000;
for (let t = Math.ceil(((from - first) / 1000) / step) * step; t * 1000 + first <= to; t += step) {
  const xx = x(first + t * 1000);
  out.push(`<line x1="${xx}" y1="${top}" x2="${xx}" y2="${height - 34}" stroke="#ccc" stroke-dasharray="2,3"/>`);
  out.push(`<text x="${xx}" y="${height - 20}" text-anchor="middle" fill="#555">${+t.toFixed(3)} ms</text>`);
}
let lx = left;
for (const [name, colour] of colours) {
  out.push(`<rect x="${lx}" y="${height - 12}" width="10" height="10" fill="${colour}"/><text x="${lx + 14}" y="${height - 3}" font-size="11">${esc(name)}</text>`);
  lx += 24 + 7 * name.length;
}
out.push('</svg>');
writeFileSync(output, `${out.join('\n')}\n`);
