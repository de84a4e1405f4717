// --profile: an mpiP-style report of the job. Time per rank (from joining to finalize, and the time
// with at least one communication call in progress), aggregate time per call and per sampled call
// site, the sizes of the messages each call sent, and two wait states computed across ranks as
// Scalasca defines them:
//  - late sender: a blocking receive (recv, Recv, sendrecv, Sendrecv, Sendrecv_replace) began before
//    the matching send's call began; it waited min(send start, delivery) − receive start;
//  - wait at a collective: every rank that entered a collective call before the last one to enter it
//    waited from its own entry until that last entry (at most until its call ended).
// The report ends with one line naming the likely straggler: the rank the others waited for the most.
// Totals per call and message sizes are exact (running counts on each rank); wait states come from the
// recorded events, so they are partial when a rank reached its event cap (the report says so).
import { callName, isCollective } from './calls.js';
import type { JobModel, Span } from './job-model.js';
import type { Recording } from './format.js';
import { formatBytes } from './matrix.js';
import { SITE_SAMPLE_EVERY } from './sites.js';

/** Receives that block the program until their message is there: the only ones a late sender delays. */
const BLOCKING_RECEIVES = new Set(['recv', 'Recv', 'sendrecv', 'Sendrecv', 'Sendrecv_replace']);

/** Waiting below this share of the job's total time is not worth naming a straggler for. */
const STRAGGLER_THRESHOLD = 0.01;

export interface CallRow {
  call: string;
  count: number;
  totalMs: number;
  meanUs: number;
  maxUs: number;
  /** Coefficient of variation of the call's durations. */
  cv: number;
  /** The largest per-rank total against the mean per-rank total, and whose it is. */
  imbalance: number;
  maxRank: number;
}

export interface SiteRow { call: string; site: string; sampled: number; meanUs: number; maxUs: number; cv: number; ranks: number[] }
export interface SizeRow { call: string; messages: number; bytes: number; meanBytes: number; minBytes: number; maxBytes: number; histogram: number[] }
export interface RankRow { rank: number; appS: number; commS: number; commPercent: number; lateSenderS: number; collectiveWaitS: number; causedS: number }

export interface ProfileReport {
  title: string;
  ranks: number;
  missing: number[];
  perRank: RankRow[];
  calls: CallRow[];
  sites: SiteRow[];
  sizes: SizeRow[];
  waits: {
    lateSenderS: number;
    collectiveWaitS: number;
    collectives: number;
    /** Per rank: how often it was the last to enter a collective. */
    lastToArrive: number[];
    /** [receiver, sender, seconds] for the pairs with the most late-sender waiting. */
    latePairs: [number, number, number][];
    partial: boolean;
  };
  straggler: { rank: number; line: string } | { rank: -1; line: string };
  notes: string[];
}

function cvOf(count: number, total: number, sumSquares: number): number {
  if (count < 2 || total <= 0) return 0;
  const mean = total / count;
  return Math.sqrt(Math.max(0, sumSquares / count - mean * mean)) / mean;
}

/** Builds the report from the recordings (by rank) and the job model of their events. */
export function buildProfile(title: string, size: number, recordings: readonly (Recording | undefined)[], job: JobModel, notes: string[]): ProfileReport {
  const present = recordings.filter((r): r is Recording => r !== undefined);
  const missing = [...Array(size).keys()].filter((r) => !recordings[r]);

  // Calls: totals over ranks, and each rank's total for the imbalance.
  const byCall = new Map<number, { count: number; total: number; sumSquares: number; max: number; perRank: Float64Array }>();
  for (const rec of present) {
    for (const [call, count, total, sumSquares, max] of rec.meta.calls) {
      let c = byCall.get(call);
      if (!c) byCall.set(call, (c = { count: 0, total: 0, sumSquares: 0, max: 0, perRank: new Float64Array(size) }));
      c.count += count; c.total += total; c.sumSquares += sumSquares; c.max = Math.max(c.max, max);
      c.perRank[rec.meta.rank] = total;
    }
  }
  const calls: CallRow[] = [...byCall].map(([call, c]) => {
    let maxRank = 0;
    for (let r = 1; r < size; r++) if (c.perRank[r]! > c.perRank[maxRank]!) maxRank = r;
    const meanRank = c.total / Math.max(1, present.length);
    return {
      call: callName(call), count: c.count, totalMs: c.total, meanUs: (c.total / c.count) * 1000, maxUs: c.max * 1000,
      cv: cvOf(c.count, c.total, c.sumSquares), imbalance: meanRank > 0 ? c.perRank[maxRank]! / meanRank : 0, maxRank,
    };
  }).sort((a, b) => b.totalMs - a.totalMs);

  const bySite = new Map<string, { call: number; site: string; count: number; total: number; sumSquares: number; max: number; ranks: Set<number> }>();
  for (const rec of present) {
    for (const [call, site, count, total, sumSquares, max] of rec.meta.sites) {
      const key = `${call} ${site}`;
      let s = bySite.get(key);
      if (!s) bySite.set(key, (s = { call, site, count: 0, total: 0, sumSquares: 0, max: 0, ranks: new Set() }));
      s.count += count; s.total += total; s.sumSquares += sumSquares; s.max = Math.max(s.max, max); s.ranks.add(rec.meta.rank);
    }
  }
  const sites: SiteRow[] = [...bySite.values()].map((s) => ({
    call: callName(s.call), site: s.site, sampled: s.count, meanUs: (s.total / s.count) * 1000, maxUs: s.max * 1000,
    cv: cvOf(s.count, s.total, s.sumSquares), ranks: [...s.ranks].sort((a, b) => a - b),
  })).sort((a, b) => b.meanUs * b.sampled - a.meanUs * a.sampled);

  const bySize = new Map<number, SizeRow>();
  for (const rec of present) {
    for (const [call, messages, bytes, min, max, histogram] of rec.meta.sizes) {
      let s = bySize.get(call);
      if (!s) bySize.set(call, (s = { call: callName(call), messages: 0, bytes: 0, meanBytes: 0, minBytes: Infinity, maxBytes: 0, histogram: new Array(histogram.length).fill(0) }));
      s.messages += messages; s.bytes += bytes; s.minBytes = Math.min(s.minBytes, min); s.maxBytes = Math.max(s.maxBytes, max);
      histogram.forEach((v, i) => { s!.histogram[i] += v; });
    }
  }
  const sizes = [...bySize.values()].map((s) => ({ ...s, meanBytes: s.messages ? s.bytes / s.messages : 0 })).sort((a, b) => b.bytes - a.bytes);

  // Wait states, in ns of job time.
  const lateSender = new Float64Array(size), collectiveWait = new Float64Array(size), caused = new Float64Array(size);
  const latePairs = new Map<string, number>();
  for (const flow of job.flows.values()) {
    const recvSpan = job.ranks[flow.deliver.rank]?.spanById.get(flow.deliver.owner);
    const sendSpan = job.ranks[flow.send.rank]?.spanById.get(flow.send.owner);
    if (!recvSpan || !sendSpan || !BLOCKING_RECEIVES.has(recvSpan.name)) continue;
    const wait = Math.min(sendSpan.start, flow.deliver.at) - recvSpan.start;
    if (wait <= 0) continue;
    lateSender[flow.deliver.rank]! += wait;
    caused[flow.send.rank]! += wait;
    const key = `${flow.deliver.rank},${flow.send.rank}`;
    latePairs.set(key, (latePairs.get(key) ?? 0) + wait);
  }
  const instances = new Map<string, Span[]>();
  for (const model of job.ranks) {
    for (const span of model?.spans ?? []) {
      if (!isCollective(span.call) || span.unfinished) continue;
      const key = `${span.context}:${span.tag}`;
      let list = instances.get(key);
      if (!list) instances.set(key, (list = []));
      list.push(span);
    }
  }
  const lastToArrive = new Array<number>(size).fill(0);
  let collectives = 0;
  for (const spans of instances.values()) {
    if (spans.length < 2) continue;
    collectives++;
    let last = spans[0]!;
    for (const s of spans) if (s.start > last.start) last = s;
    lastToArrive[last.rank]!++;
    for (const s of spans) {
      const wait = Math.min(last.start, s.end) - s.start;
      if (wait <= 0) continue;
      collectiveWait[s.rank]! += wait;
      caused[last.rank]! += wait;
    }
  }

  const perRank: RankRow[] = present.map((rec) => {
    const r = rec.meta.rank, app = rec.meta.end - rec.meta.start;
    return {
      rank: r, appS: app / 1000, commS: rec.meta.busy / 1000, commPercent: app > 0 ? (100 * rec.meta.busy) / app : 0,
      lateSenderS: lateSender[r]! / 1e9, collectiveWaitS: collectiveWait[r]! / 1e9, causedS: caused[r]! / 1e9,
    };
  });
  const partial = present.some((r) => r.meta.dropped > 0 || r.count < r.meta.events) || missing.length > 0;
  const waits = {
    lateSenderS: lateSender.reduce((a, b) => a + b, 0) / 1e9,
    collectiveWaitS: collectiveWait.reduce((a, b) => a + b, 0) / 1e9,
    collectives, lastToArrive,
    latePairs: [...latePairs].map(([k, v]) => [...k.split(',').map(Number), v / 1e9] as [number, number, number]).sort((a, b) => b[2] - a[2]).slice(0, 8),
    partial,
  };
  return { title, ranks: size, missing, perRank, calls, sites, sizes, waits, straggler: straggler(perRank, waits, lastToArrive, collectives), notes };
}

function straggler(perRank: RankRow[], waits: ProfileReport['waits'], lastToArrive: number[], collectives: number): ProfileReport['straggler'] {
  const totalApp = perRank.reduce((a, r) => a + r.appS, 0);
  const totalWait = waits.lateSenderS + waits.collectiveWaitS;
  if (perRank.length < 2 || totalApp <= 0 || totalWait < STRAGGLER_THRESHOLD * totalApp) {
    const share = totalApp > 0 ? (100 * totalWait) / totalApp : 0;
    return { rank: -1, line: `no straggler: the ranks spent ${share.toFixed(1)}% of their time waiting for each other` };
  }
  let worst = perRank[0]!;
  for (const r of perRank) if (r.causedS > worst.causedS) worst = r;
  const others = perRank.filter((r) => r.rank !== worst.rank);
  const othersComm = others.reduce((a, r) => a + r.commPercent, 0) / Math.max(1, others.length);
  const why: string[] = [];
  if (collectives > 0 && lastToArrive[worst.rank]! > 0) {
    why.push(`it was the last to enter ${lastToArrive[worst.rank]} of ${collectives} collective calls`);
  }
  const lateCaused = waits.latePairs.filter(([, sender]) => sender === worst.rank).reduce((a, [, , s]) => a + s, 0);
  if (lateCaused > 0) why.push(`its sends came late to receives waiting ${formatSeconds(lateCaused)}`);
  const share = `it spent ${worst.commPercent.toFixed(0)}% of its time in communication against ${othersComm.toFixed(0)}% for the others`;
  why.push(worst.commPercent < othersComm ? `${share}: it computes longer between its calls` : share);
  return {
    rank: worst.rank,
    line: `likely straggler: rank ${worst.rank} — the other ranks waited ${formatSeconds(worst.causedS)} for it (${(100 * worst.causedS / totalWait).toFixed(0)}% of all waiting): ${why.join('; ')}`,
  };
}

function formatSeconds(s: number): string {
  return s >= 1 ? `${s.toFixed(2)} s` : s >= 1e-3 ? `${(s * 1e3).toFixed(1)} ms` : `${(s * 1e6).toFixed(0)} µs`;
}

/** Columns padded to their widest cell: numbers to the right, the columns in `left` to the left. */
function table(head: string[], rows: (string | number)[][], left: readonly number[] = [0]): string[] {
  const cells = [head, ...rows.map((r) => r.map(String))];
  const widths = head.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  return cells.map((r) => r.map((c, i) => (left.includes(i) ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd());
}

const f1 = (x: number): string => x.toFixed(1);
const f3 = (x: number): string => x.toFixed(3);

/** The report as text; `brief`: the summary printed at job end (top calls only, no sites or sizes). */
export function profileText(p: ProfileReport, brief: boolean): string {
  const out: string[] = [];
  out.push(`tsmpi profile: ${p.title}`);
  for (const note of p.notes) out.push(`note: ${note}`);
  if (p.missing.length > 0) out.push(`note: no recording from rank${p.missing.length > 1 ? 's' : ''} ${p.missing.join(', ')} (failed or ended before its finalize)`);
  out.push('', '--- time per rank (app: from joining to finalize; comm: with a communication call in progress) ---');
  const totalApp = p.perRank.reduce((a, r) => a + r.appS, 0), totalComm = p.perRank.reduce((a, r) => a + r.commS, 0);
  out.push(...table(['rank', 'app s', 'comm s', 'comm %', 'late sender s', 'collective wait s', 'others waited for it s'], [
    ...p.perRank.map((r) => [r.rank, f3(r.appS), f3(r.commS), f1(r.commPercent), f3(r.lateSenderS), f3(r.collectiveWaitS), f3(r.causedS)]),
    ['all', f3(totalApp), f3(totalComm), f1(totalApp > 0 ? (100 * totalComm) / totalApp : 0), f3(p.waits.lateSenderS), f3(p.waits.collectiveWaitS), ''],
  ]));
  const calls = brief ? p.calls.slice(0, 10) : p.calls;
  out.push('', `--- aggregate time per call${brief && p.calls.length > 10 ? ' (top 10)' : ''}; max/mean: the largest per-rank total against the mean, and whose ---`);
  out.push(...table(['call', 'count', 'total ms', 'mean µs', 'max µs', 'CV', 'max/mean', 'rank'],
    calls.map((c) => [c.call, c.count, f3(c.totalMs), f1(c.meanUs), f1(c.maxUs), c.cv.toFixed(2), c.imbalance.toFixed(2), c.maxRank])));
  if (!brief) {
    out.push('', `--- call sites (sampled: the first calls of each name, then one in ${SITE_SAMPLE_EVERY}) ---`);
    out.push(...table(['call', 'sampled', 'mean µs', 'max µs', 'CV', 'ranks', 'site'],
      p.sites.map((s) => [s.call, s.sampled, f1(s.meanUs), f1(s.maxUs), s.cv.toFixed(2), compactRanks(s.ranks), s.site]), [0, 6]));
    out.push('', '--- message sizes (messages each call sent, collective-internal ones included) ---');
    out.push(...table(['call', 'messages', 'bytes', 'mean', 'min', 'max'],
      p.sizes.map((s) => [s.call, s.messages, s.bytes, formatBytes(Math.round(s.meanBytes)), formatBytes(s.minBytes), formatBytes(s.maxBytes)])));
  }
  const w = p.waits;
  out.push('', `--- wait states${w.partial ? ' (partial: some ranks recorded only part of their events)' : ''} ---`);
  out.push(`late sender: blocking receives waited ${formatSeconds(w.lateSenderS)} for sends that began after them`);
  if (w.latePairs.length > 0) out.push(`  most: ${w.latePairs.slice(0, brief ? 3 : 8).map(([recv, send, s]) => `rank ${recv} for rank ${send} ${formatSeconds(s)}`).join(', ')}`);
  out.push(`collectives: ranks waited ${formatSeconds(w.collectiveWaitS)} in ${w.collectives} collective calls for the last rank to enter`);
  if (w.collectives > 0) {
    const order = w.lastToArrive.map((n, r) => [r, n] as const).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]).slice(0, 4);
    out.push(`  last to enter: ${order.map(([r, n]) => `rank ${r} ${n}×`).join(', ')}`);
  }
  out.push('', p.straggler.line);
  return `${out.join('\n')}\n`;
}

function compactRanks(ranks: number[]): string {
  return ranks.length > 6 ? `${ranks.length} ranks` : ranks.join(',');
}
