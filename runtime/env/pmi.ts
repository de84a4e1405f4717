// PMI client: how a rank started by an existing PMI launcher — Slurm's `srun --mpi=pmi2` or MPICH's Hydra
// `mpiexec` — learns its rank and size and exchanges small strings (data-plane addresses) with the other
// ranks through the launcher's key-value store, with no tsmpirun involved.
//
// Both wire dialects are spoken (shared/research/pmi.md has the facts they rest on):
// - PMI-1: newline-terminated lines of space-separated key=value pairs. Slurm's pmi2 plugin and Hydra
//   both accept it.
// - PMI-2: an init handshake in PMI-1 form, then 6-byte decimal length prefixes (padded with spaces on
//   either side) before `cmd=NAME;key=value;…;` payloads.
// Replies are parsed into maps and looked up by name: the two servers order fields differently, and
// say "success" and "missing key" differently (see the comments at each command).
//
// Requests go out one at a time and wait for their reply before the next is written: PMI is a strict
// request/response protocol per connection, and Slurm's step daemon breaks if a second message arrives
// before the first is answered (observed for init). abort() is the exception: it must get through
// even while a fence is blocked waiting for a rank that will never arrive.
//
// Keys and values are only ever sent in the alphabet [A-Za-z0-9:/._-]: neither server unescapes
// anything, a space ends a PMI-1 value and `;` a PMI-2 one. Values are base64url with a prefix; a value
// longer than the server takes is split across several keys (see encodeForPut).
import net from 'node:net';
import { isTsmpiError, tsmpiError, type TsmpiError } from '../errors.js';

export type PmiDialect = 'pmi1' | 'pmi2';
/** Which program serves PMI; decides the default dialect and how abort is sent. */
export type PmiLauncher = 'slurm' | 'hydra' | 'unknown';

export interface PmiClient {
  readonly rank: number;
  readonly size: number;
  readonly dialect: PmiDialect;
  readonly launcher: PmiLauncher;
  /** Stores `value` under `key` for the other ranks; visible to them after the next fence(). Any
   *  strings: both are encoded to the wire's safe alphabet, long values split across several keys. */
  put(key: string, value: string): Promise<void>;
  /** Collective over all ranks of the job: afterwards the puts every rank made before it are visible.
   *  Not necessarily a barrier: under Hydra's PMI-2 it returns at once and the gets that follow wait
   *  until every rank has fenced (observed); under srun (both dialects) and Hydra's PMI-1 it blocks. */
  fence(): Promise<void>;
  /** A value some rank put before the last fence, or undefined when no rank put `key`. `fromRank` is a
   *  hint for the server (PMI-2's srcid); PMI-1 has no such field and ignores it. */
  get(key: string, fromRank?: number): Promise<string | undefined>;
  /** Asks the launcher to end the whole job, with `exitCode` where the launcher honours it (Hydra does;
   *  srun ends every task with SIGKILL, so its exit status is 137). Best effort: resolves once the
   *  request is written (or at most ABORT_FLUSH_MS later); the caller exits next. */
  abort(exitCode: number, message: string): Promise<void>;
  /** Tells the launcher this rank is done with PMI (it then closes the connection). Idempotent. */
  finalize(): Promise<void>;
  /** Drops the connection without telling the server; pending requests fail. */
  close(): void;
}

/** Longest reply line, or PMI-2 payload, accepted before the reply is declared garbage. Real replies are
 *  at most a few hundred bytes beyond the 1024-byte value limit. */
export const PMI_REPLY_MAX = 64 * 1024;
/** Longest PMI-1 request line, newline included (MPICH's PMIU_MAXLINE). Slurm's pmi2 plugin reads
 *  PMI-1 lines in 1024-byte pieces: a longer `put` is answered rc=0 but stores a truncated value, and
 *  the rest of the line is rejected as a bad request — a silent loss, so chunks are sized to avoid it. */
export const PMI1_REQUEST_LINE_MAX = 1024;
/** PMI-2 has no get_maxes; these are PMI2_MAX_KEYLEN / PMI2_MAX_VALLEN of the PMI-2 API. */
const PMI2_KEYLEN_MAX = 64;
const PMI2_VALLEN_MAX = 1024;
/** Defaults for a PMI-1 server whose `maxes` reply leaves a field out. */
const PMI1_DEFAULT_MAXES = { kvsname: 256, keylen: 64, vallen: 1024 };
const PMI2_LENGTH_DIGITS = 6;
/** A PMI server answers init at once; a silent one means PMI_FD/PMI_PORT is not what it claims. */
const INIT_TIMEOUT_MS = 30_000;
/** abort() resolves at the latest this long after writing, if the write never reports completion. */
export const ABORT_FLUSH_MS = 1_000;
/** Upper bound on the number of chunks a stored value claims (protects get() from a garbage head). */
const MAX_CHUNKS = 1 << 16;

// ---------------------------------------------------------------------------------------------------
// Reply parsing (pure; throws nothing but TsmpiError)

/** One reply: its `cmd` and every key=value pair in it, by name. */
export interface PmiMessage {
  readonly cmd: string;
  readonly fields: ReadonlyMap<string, string>;
}

function protocolError(message: string): TsmpiError {
  return tsmpiError('TSMPI_ERR_PROTOCOL', `PMI: ${message}`);
}

/** Shows a bit of a garbage reply in an error message without flooding it. */
function excerpt(text: string): string {
  const shown = text.length > 80 ? `${text.slice(0, 80)}…` : text;
  return JSON.stringify(shown);
}

/** Parses one PMI-1 line (without its newline): space-separated key=value tokens, `cmd` among them. */
export function parsePmi1Line(line: string): PmiMessage {
  const fields = new Map<string, string>();
  for (const token of line.replace(/\r$/, '').split(' ')) {
    if (token === '') continue; // Slurm and Hydra both leave trailing or doubled spaces at times
    const eq = token.indexOf('=');
    if (eq <= 0) throw protocolError(`malformed token ${excerpt(token)} in reply ${excerpt(line)}`);
    fields.set(token.slice(0, eq), token.slice(eq + 1));
  }
  return withCmd(fields, line);
}

/** Parses a PMI-2 payload `cmd=NAME;key=value;…;` (final `;` optional, `;;` inside a value is a `;`). */
export function parsePmi2Payload(payload: string): PmiMessage {
  const fields = new Map<string, string>();
  let pos = 0;
  while (pos < payload.length) {
    const eq = payload.indexOf('=', pos);
    const semicolon = payload.indexOf(';', pos);
    if (eq <= pos || (semicolon !== -1 && semicolon < eq)) {
      throw protocolError(`malformed field at offset ${pos} of reply ${excerpt(payload)}`);
    }
    const key = payload.slice(pos, eq);
    let value = '';
    let cursor = eq + 1;
    for (;;) {
      const end = payload.indexOf(';', cursor);
      if (end === -1) {
        value += payload.slice(cursor);
        cursor = payload.length;
        break;
      }
      if (payload[end + 1] === ';') {
        value += payload.slice(cursor, end + 1);
        cursor = end + 2;
        continue;
      }
      value += payload.slice(cursor, end);
      cursor = end + 1;
      break;
    }
    fields.set(key, value);
    pos = cursor;
  }
  return withCmd(fields, payload);
}

function withCmd(fields: Map<string, string>, text: string): PmiMessage {
  const cmd = fields.get('cmd');
  if (cmd === undefined || cmd === '') throw protocolError(`reply without cmd: ${excerpt(text)}`);
  return { cmd, fields };
}

/**
 * Splits the bytes a PMI socket delivers (in chunks of any size) into messages. `framing` is 'line' for
 * PMI-1 and for PMI-2's init handshake, then 'pmi2' for length-prefixed PMI-2 messages; the client
 * switches it between two messages. Every limit is checked as soon as it can be: a line without a
 * newline within PMI_REPLY_MAX bytes, or a length prefix that is not a number or is too large, is garbage.
 */
export class PmiReplyReader {
  framing: 'line' | 'pmi2' = 'line';
  private buffer: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
  }

  /** The next complete message, or null when more bytes are needed. */
  next(): PmiMessage | null {
    return this.framing === 'line' ? this.nextLine() : this.nextFrame();
  }

  private nextLine(): PmiMessage | null {
    const newline = this.buffer.indexOf(0x0a);
    if (newline === -1) {
      if (this.buffer.length > PMI_REPLY_MAX) {
        throw protocolError(`reply line longer than ${PMI_REPLY_MAX} bytes without a newline`);
      }
      return null;
    }
    if (newline > PMI_REPLY_MAX) throw protocolError(`reply line of ${newline} bytes exceeds ${PMI_REPLY_MAX}`);
    const line = this.buffer.toString('latin1', 0, newline);
    this.buffer = this.buffer.subarray(newline + 1);
    return parsePmi1Line(line);
  }

  private nextFrame(): PmiMessage | null {
    if (this.buffer.length < PMI2_LENGTH_DIGITS) return null;
    const prefix = this.buffer.toString('latin1', 0, PMI2_LENGTH_DIGITS);
    // Slurm pads the length on the right ("26    "), Hydra on the left ("    26").
    if (!/^ *[0-9]+ *$/.test(prefix)) throw protocolError(`bad PMI-2 length prefix ${excerpt(prefix)}`);
    const length = Number(prefix.trim());
    if (length === 0 || length > PMI_REPLY_MAX) throw protocolError(`PMI-2 reply length ${length} out of range`);
    if (this.buffer.length < PMI2_LENGTH_DIGITS + length) return null;
    const payload = this.buffer.toString('latin1', PMI2_LENGTH_DIGITS, PMI2_LENGTH_DIGITS + length);
    this.buffer = this.buffer.subarray(PMI2_LENGTH_DIGITS + length);
    return parsePmi2Payload(payload);
  }
}

// ---------------------------------------------------------------------------------------------------
// Request formatting

/** `cmd=NAME k=v …\n` (values are already in the safe alphabet). */
export function formatPmi1(cmd: string, fields: Record<string, string | number> = {}): string {
  let line = `cmd=${cmd}`;
  for (const [key, value] of Object.entries(fields)) line += ` ${key}=${value}`;
  return `${line}\n`;
}

/** A length-prefixed PMI-2 message, the length padded on the right as MPICH's client does. */
export function formatPmi2(cmd: string, fields: Record<string, string | number> = {}): string {
  let payload = `cmd=${cmd};`;
  for (const [key, value] of Object.entries(fields)) payload += `${key}=${value};`;
  return `${String(payload.length).padEnd(PMI2_LENGTH_DIGITS, ' ')}${payload}`;
}

// ---------------------------------------------------------------------------------------------------
// Key and value encoding

/** Keys made only of these go out as they are; they contain neither ':' (which starts an encoded key)
 *  nor '/' (which starts a chunk suffix), so no two different keys can meet on the wire. */
const VERBATIM_KEY = /^[A-Za-z0-9._-]+$/;
const BASE64URL = /^[A-Za-z0-9_-]*$/;
/** A value that fits in one key: `v:<base64url>`. A split one: `m:<chunks>:<base64url length>` under
 *  the key itself and the base64url text in pieces under `<key>/1` … `<key>/<chunks>`. */
const SINGLE_PREFIX = 'v:';
const SPLIT_PREFIX = 'm:';

export function encodePmiKey(key: string): string {
  return VERBATIM_KEY.test(key) ? key : `:${Buffer.from(key, 'utf8').toString('base64url')}`;
}

function decodeBase64url(text: string, key: string): string {
  if (!BASE64URL.test(text) || text.length % 4 === 1) {
    throw protocolError(`value under key ${excerpt(key)} is not base64url`);
  }
  return Buffer.from(text, 'base64url').toString('utf8');
}

export interface PutPlan {
  /** [wire key, wire value] pairs to put, the head (under the key itself) last. */
  readonly puts: ReadonlyArray<readonly [string, string]>;
}

/**
 * Plans the puts that store `value` under `key`. `keyMax` is the longest wire key the server keeps whole
 * and `valueCapacity(wireKey)` the longest wire value that may go with that key (for PMI-1 it depends
 * on the key, since the whole line is bounded).
 */
export function encodeForPut(
  key: string,
  value: string,
  keyMax: number,
  valueCapacity: (wireKey: string) => number,
): PutPlan {
  const wireKey = encodePmiKey(key);
  if (wireKey.length > keyMax) {
    throw tsmpiError('TSMPI_ERR_ARG', `PMI key ${excerpt(key)} is ${wireKey.length} bytes on the wire; the server keeps at most ${keyMax}`);
  }
  const encoded = Buffer.from(value, 'utf8').toString('base64url');
  if (SINGLE_PREFIX.length + encoded.length <= valueCapacity(wireKey)) {
    return { puts: [[wireKey, SINGLE_PREFIX + encoded]] };
  }
  // Chunk keys get longer with the chunk count's digits; size every chunk for the longest key.
  let chunks = 1;
  for (;;) {
    const longestChunkKey = `${wireKey}/${chunks}`;
    if (longestChunkKey.length > keyMax) {
      throw tsmpiError('TSMPI_ERR_ARG', `PMI key ${excerpt(key)} leaves no room to split a ${value.length}-character value (at most ${keyMax} bytes per key); use a shorter key`);
    }
    const perChunk = valueCapacity(longestChunkKey);
    if (perChunk <= 0) throw tsmpiError('TSMPI_ERR_ARG', `PMI key ${excerpt(key)} is too long for a value`);
    const needed = Math.ceil(encoded.length / perChunk);
    if (needed <= chunks) {
      if (chunks > MAX_CHUNKS) throw tsmpiError('TSMPI_ERR_ARG', `PMI value of ${value.length} characters is too large`);
      const puts: Array<readonly [string, string]> = [];
      for (let i = 0; i < needed; i++) {
        puts.push([`${wireKey}/${i + 1}`, encoded.slice(i * perChunk, (i + 1) * perChunk)]);
      }
      const head = `${SPLIT_PREFIX}${needed}:${encoded.length}`;
      if (head.length > valueCapacity(wireKey)) throw tsmpiError('TSMPI_ERR_ARG', `PMI key ${excerpt(key)} is too long for a value`);
      puts.push([wireKey, head]);
      return { puts };
    }
    chunks = needed;
  }
}

/** What a stored head value says: the whole value, or how to fetch its pieces. */
export type StoredValue =
  | { readonly kind: 'whole'; readonly value: string }
  | { readonly kind: 'split'; readonly chunks: number; readonly encodedLength: number };

export function decodeStoredValue(key: string, stored: string): StoredValue {
  if (stored.startsWith(SINGLE_PREFIX)) {
    return { kind: 'whole', value: decodeBase64url(stored.slice(SINGLE_PREFIX.length), key) };
  }
  const split = /^m:([0-9]{1,6}):([0-9]{1,12})$/.exec(stored);
  if (split) {
    const chunks = Number(split[1]);
    const encodedLength = Number(split[2]);
    if (chunks >= 1 && chunks <= MAX_CHUNKS) return { kind: 'split', chunks, encodedLength };
  }
  throw protocolError(`value under key ${excerpt(key)} was not stored by tsmpi: ${excerpt(stored)}`);
}

export function joinChunks(key: string, pieces: readonly string[], encodedLength: number): string {
  const joined = pieces.join('');
  if (joined.length !== encodedLength) {
    throw protocolError(`value under key ${excerpt(key)} has ${joined.length} of ${encodedLength} encoded characters`);
  }
  return decodeBase64url(joined, key);
}

/** An abort message in the safe alphabet: for people reading the launcher's log, so lossy is fine. */
function sanitizeMessage(message: string): string {
  return message.replace(/[^A-Za-z0-9:/._-]/g, '_').slice(0, 512);
}

// ---------------------------------------------------------------------------------------------------
// Environment

/** Hydra marks its ranks with MPI_LOCALRANKID (and never sets PMI_JOBID); Slurm's pmi2 plugin sets
 *  PMI_JOBID. Hydra is checked first: mpiexec run inside a Slurm allocation passes SLURM_* on. */
export function detectPmiLauncher(env: NodeJS.ProcessEnv): PmiLauncher {
  if (env.MPI_LOCALRANKID !== undefined) return 'hydra';
  if (env.PMI_JOBID !== undefined || env.SLURM_STEP_ID !== undefined) return 'slurm';
  return 'unknown';
}

/**
 * TSMPI_PMI=pmi1|pmi2 forces a dialect. Otherwise PMI-1 under every launcher: both accept it, it is
 * Hydra's own default, its fence is a real barrier under both (Hydra's PMI-2 fence is not), Hydra 4.0 has
 * no PMI-2 abort, and measured here (4 Node ranks: connect, put, fence, 3 gets, finalize; 20 interleaved
 * runs each) it was as fast as PMI-2 under srun and under Hydra: the differences were smaller than the
 * run-to-run noise. The launcher parameter is where a per-launcher default would go.
 */
export function choosePmiDialect(env: NodeJS.ProcessEnv, _launcher: PmiLauncher): PmiDialect {
  const forced = env.TSMPI_PMI;
  if (forced === undefined || forced === '') return 'pmi1';
  if (forced === 'pmi1' || forced === 'pmi2') return forced;
  throw tsmpiError('TSMPI_ERR_ARG', `TSMPI_PMI=${forced}: expected pmi1 or pmi2`);
}

function envInteger(env: NodeJS.ProcessEnv, name: string, min: number): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  if (!/^[0-9]+$/.test(raw) || Number(raw) < min || !Number.isSafeInteger(Number(raw))) {
    throw tsmpiError('TSMPI_ERR_ARG', `${name}=${raw} is not an integer >= ${min}`);
  }
  return Number(raw);
}

function replyInteger(message: PmiMessage, field: string, fallback?: number): number {
  const raw = message.fields.get(field);
  if (raw === undefined && fallback !== undefined) return fallback;
  if (raw === undefined || !/^-?[0-9]+$/.test(raw)) {
    throw protocolError(`reply ${message.cmd} has ${raw === undefined ? 'no' : `a bad`} ${field}${raw === undefined ? '' : ` (${excerpt(raw)})`}`);
  }
  return Number(raw);
}

// ---------------------------------------------------------------------------------------------------
// The client

interface Waiter {
  readonly expect: string;
  /** Runs synchronously when the reply arrives, before any later byte is parsed (framing switch). */
  readonly onReply?: () => void;
  resolve(message: PmiMessage): void;
  reject(error: TsmpiError): void;
}

export interface OpenPmiOptions {
  readonly dialect: PmiDialect;
  readonly launcher: PmiLauncher;
  /** PMI_RANK / PMI_SIZE / PMI_JOBID / PMI_ID as the launcher set them. */
  readonly env: NodeJS.ProcessEnv;
  /** True when connected through PMI_PORT (Hydra's -pmi-port): PMI-1 then starts with initack. */
  readonly viaPort: boolean;
}

class SocketPmiClient implements PmiClient {
  rank = -1;
  size = -1;
  readonly dialect: PmiDialect;
  readonly launcher: PmiLauncher;
  private readonly socket: net.Socket;
  private readonly reader = new PmiReplyReader();
  private readonly waiting: Waiter[] = [];
  /** Tail of the one-at-a-time request queue. */
  private queue: Promise<unknown> = Promise.resolve();
  private failure: TsmpiError | undefined;
  private state: 'open' | 'finalized' | 'aborted' | 'closed' = 'open';
  private kvsname = '';
  private keyMax = PMI2_KEYLEN_MAX - 1;
  private valueMax = PMI2_VALLEN_MAX - 1;
  private jobId: string | undefined;

  constructor(socket: net.Socket, options: OpenPmiOptions) {
    this.socket = socket;
    this.dialect = options.dialect;
    this.launcher = options.launcher;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (error: Error) => this.fail(tsmpiError('TSMPI_ERR_PEER_LOST', `PMI connection failed: ${error.message}`, error)));
    socket.on('close', () => this.fail(tsmpiError('TSMPI_ERR_PEER_LOST', 'the PMI server closed the connection')));
    this.updateRef();
  }

  // --- plumbing

  private onData(chunk: Buffer): void {
    // After an abort nothing more is expected; a late reply (to a request abort failed) must not make
    // fail() destroy the socket while the abort may still be in its write queue.
    if (this.state === 'aborted') return;
    try {
      this.reader.push(chunk);
      for (let message = this.reader.next(); message !== null; message = this.reader.next()) {
        const waiter = this.waiting.shift();
        if (waiter === undefined) throw protocolError(`unsolicited reply ${message.cmd}`);
        if (message.cmd !== waiter.expect) throw protocolError(`expected ${waiter.expect}, got ${message.cmd}`);
        waiter.onReply?.();
        waiter.resolve(message);
      }
      this.updateRef();
    } catch (error) {
      this.fail(isTsmpiError(error) ? error : tsmpiError('TSMPI_ERR_PROTOCOL', `PMI reply handling failed: ${String(error)}`, error));
    }
  }

  /** Keeps the process alive only while a reply is awaited, so an idle PMI connection never stops a
   *  finished program from exiting. */
  private updateRef(): void {
    if (this.waiting.length > 0) this.socket.ref();
    else this.socket.unref();
  }

  private fail(error: TsmpiError): void {
    if (this.failure === undefined) this.failure = error;
    const pending = this.waiting.splice(0);
    for (const waiter of pending) waiter.reject(this.failure);
    if (!this.socket.destroyed) this.socket.destroy();
  }

  private usable(): TsmpiError | undefined {
    if (this.state === 'aborted') return tsmpiError('TSMPI_ERR_ABORTED', 'PMI: the job was aborted');
    if (this.state === 'finalized' || this.state === 'closed') return tsmpiError('TSMPI_ERR_INTERN', `PMI client is ${this.state}`);
    return this.failure;
  }

  /**
   * Sends one request and resolves with its replies (one per entry of `expect`), after every earlier
   * request has been answered.
   */
  request(text: string, expect: ReadonlyArray<string | { expect: string; onReply: () => void }>): Promise<PmiMessage[]> {
    const run = this.queue.then(() => this.exchange(text, expect));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private exchange(text: string, expect: ReadonlyArray<string | { expect: string; onReply: () => void }>): Promise<PmiMessage[]> {
    const unusable = this.usable();
    if (unusable !== undefined) return Promise.reject(unusable);
    return new Promise<PmiMessage[]>((resolve, reject) => {
      const replies: PmiMessage[] = [];
      let failed = false;
      for (const entry of expect) {
        const spec = typeof entry === 'string' ? { expect: entry } : entry;
        this.waiting.push({
          ...spec,
          resolve: (message) => {
            replies.push(message);
            if (replies.length === expect.length) resolve(replies);
          },
          reject: (error) => {
            if (!failed) reject(error);
            failed = true;
          },
        });
      }
      this.updateRef();
      this.socket.write(text);
    });
  }

  private format(cmd: string, fields: Record<string, string | number> = {}): string {
    return this.dialect === 'pmi1' ? formatPmi1(cmd, fields) : formatPmi2(cmd, fields);
  }

  /** rc absent (Hydra leaves it out of several PMI-1 replies) or 0 is success. */
  private static checkRc(message: PmiMessage, what: string): void {
    const rc = message.fields.get('rc');
    if (rc === undefined || rc === '0') return;
    if (!/^-?[0-9]+$/.test(rc)) throw protocolError(`${what}: bad rc ${excerpt(rc)}`);
    const detail = message.fields.get('msg') ?? message.fields.get('errmsg');
    throw tsmpiError('TSMPI_ERR_INTERN', `PMI ${what} failed with rc=${rc}${detail ? ` (${detail})` : ''}`);
  }

  private async call(cmd: string, reply: string, fields: Record<string, string | number> = {}): Promise<PmiMessage> {
    const [message] = await this.request(this.format(cmd, fields), [reply]);
    SocketPmiClient.checkRc(message!, cmd);
    return message!;
  }

  // --- start-up

  async init(options: OpenPmiOptions): Promise<void> {
    if (this.dialect === 'pmi1') await this.initPmi1(options);
    else await this.initPmi2(options);
    if (this.rank < 0 || this.size < 1 || this.rank >= this.size) {
      throw protocolError(`rank ${this.rank} / size ${this.size} from the launcher are inconsistent`);
    }
  }

  private async initPmi1(options: OpenPmiOptions): Promise<void> {
    const { env } = options;
    if (options.viaPort) {
      // Hydra's -pmi-port mode: identify by PMI_ID; the server answers with initack and then three
      // `cmd=set` lines carrying size, rank and debug (MPICH's simple PMI client reads exactly three).
      const id = envInteger(env, 'PMI_ID', 0);
      if (id === undefined) throw tsmpiError('TSMPI_ERR_ARG', 'PMI_PORT is set but PMI_ID is not');
      const replies = await this.request(formatPmi1('initack', { pmiid: id }), ['initack', 'set', 'set', 'set']);
      for (const set of replies.slice(1)) {
        if (set.fields.has('size')) this.size = replyInteger(set, 'size');
        if (set.fields.has('rank')) this.rank = replyInteger(set, 'rank');
      }
    } else {
      const rank = envInteger(env, 'PMI_RANK', 0);
      const size = envInteger(env, 'PMI_SIZE', 1);
      if (rank === undefined || size === undefined) {
        throw tsmpiError('TSMPI_ERR_ARG', 'PMI_FD is set but PMI_RANK or PMI_SIZE is not');
      }
      this.rank = rank;
      this.size = size;
    }
    await this.call('init', 'response_to_init', { pmi_version: 1, pmi_subversion: 1 });
    const maxes = await this.call('get_maxes', 'maxes');
    const keylenMax = replyInteger(maxes, 'keylen_max', PMI1_DEFAULT_MAXES.keylen);
    const vallenMax = replyInteger(maxes, 'vallen_max', PMI1_DEFAULT_MAXES.vallen);
    // The maxima count the C string's terminating NUL: Hydra keeps 63 of a 64-byte key and 1023 of a
    // 1024-byte value (observed), silently dropping the rest.
    this.keyMax = Math.min(keylenMax, PMI1_DEFAULT_MAXES.keylen) - 1;
    this.valueMax = vallenMax - 1;
    if (this.keyMax < 8 || this.valueMax < 16) throw protocolError(`server limits too small: key ${keylenMax}, value ${vallenMax}`);
    const mine = await this.call('get_my_kvsname', 'my_kvsname');
    const kvsname = mine.fields.get('kvsname');
    if (kvsname === undefined || kvsname === '') throw protocolError('my_kvsname reply without kvsname');
    this.kvsname = kvsname;
  }

  private async initPmi2(options: OpenPmiOptions): Promise<void> {
    const { env } = options;
    // The handshake is PMI-1 shaped and must be answered before anything else is written: Slurm's step
    // daemon failed (and the step hung) when init and fullinit arrived in one write.
    const [hello] = await this.request(formatPmi1('init', { pmi_version: 2, pmi_subversion: 0 }), [
      { expect: 'response_to_init', onReply: () => (this.reader.framing = 'pmi2') },
    ]);
    SocketPmiClient.checkRc(hello!, 'init');
    if (hello!.fields.get('pmi_version') !== '2') {
      throw tsmpiError('TSMPI_ERR_INTERN', `PMI server does not speak PMI-2 (answered pmi_version=${hello!.fields.get('pmi_version') ?? '?'}); set TSMPI_PMI=pmi1`);
    }
    // Slurm needs pmijobid, pmirank and threaded; Hydra needs pmirank (its PMI_ID is the rank in
    // -pmi-port mode) and rejects a fullinit without it.
    const pmirank = envInteger(env, 'PMI_RANK', 0) ?? envInteger(env, 'PMI_ID', 0);
    if (pmirank === undefined) throw tsmpiError('TSMPI_ERR_ARG', 'neither PMI_RANK nor PMI_ID is set');
    this.jobId = env.PMI_JOBID || undefined;
    const fields: Record<string, string | number> = {};
    if (this.jobId !== undefined) fields.pmijobid = this.jobId;
    fields.pmirank = pmirank;
    fields.threaded = 'FALSE';
    const full = await this.call('fullinit', 'fullinit-response', fields);
    this.rank = replyInteger(full, 'rank');
    this.size = replyInteger(full, 'size');
    this.keyMax = PMI2_KEYLEN_MAX - 1;
    this.valueMax = PMI2_VALLEN_MAX - 1;
  }

  // --- key-value store

  /** Longest wire value that may go with `wireKey` in one put. */
  private valueCapacity(wireKey: string): number {
    if (this.dialect === 'pmi2') return this.valueMax;
    const overhead = formatPmi1('put', { kvsname: this.kvsname, key: wireKey, value: '' }).length;
    return Math.min(this.valueMax, PMI1_REQUEST_LINE_MAX - overhead);
  }

  async put(key: string, value: string): Promise<void> {
    if (typeof key !== 'string' || typeof value !== 'string') throw tsmpiError('TSMPI_ERR_ARG', 'PMI put: key and value must be strings');
    const unusable = this.usable();
    if (unusable !== undefined) throw unusable;
    const plan = encodeForPut(key, value, this.keyMax, (wireKey) => this.valueCapacity(wireKey));
    for (const [wireKey, wireValue] of plan.puts) await this.putWire(wireKey, wireValue);
  }

  private async putWire(wireKey: string, wireValue: string): Promise<void> {
    if (this.dialect === 'pmi1') await this.call('put', 'put_result', { kvsname: this.kvsname, key: wireKey, value: wireValue });
    else await this.call('kvs-put', 'kvs-put-response', { key: wireKey, value: wireValue });
  }

  async fence(): Promise<void> {
    if (this.dialect === 'pmi1') await this.call('barrier_in', 'barrier_out');
    else await this.call('kvs-fence', 'kvs-fence-response');
  }

  async get(key: string, fromRank?: number): Promise<string | undefined> {
    if (typeof key !== 'string') throw tsmpiError('TSMPI_ERR_ARG', 'PMI get: key must be a string');
    if (fromRank !== undefined && (!Number.isInteger(fromRank) || fromRank < 0 || fromRank >= this.size)) {
      throw tsmpiError('TSMPI_ERR_ARG', `PMI get: fromRank ${fromRank} is not a rank of a job of ${this.size}`);
    }
    const wireKey = encodePmiKey(key);
    const head = await this.getWire(wireKey, fromRank);
    if (head === undefined) return undefined;
    const stored = decodeStoredValue(key, head);
    if (stored.kind === 'whole') return stored.value;
    const pieces: string[] = [];
    for (let i = 1; i <= stored.chunks; i++) {
      const piece = await this.getWire(`${wireKey}/${i}`, fromRank);
      if (piece === undefined) throw protocolError(`piece ${i} of ${stored.chunks} of the value under key ${excerpt(key)} is missing`);
      pieces.push(piece);
    }
    return joinChunks(key, pieces, stored.encodedLength);
  }

  private async getWire(wireKey: string, fromRank: number | undefined): Promise<string | undefined> {
    if (this.dialect === 'pmi1') {
      const [reply] = await this.request(formatPmi1('get', { kvsname: this.kvsname, key: wireKey }), ['get_result']);
      const rc = reply!.fields.get('rc');
      if (rc !== undefined && rc !== '0') {
        // A missing key: Slurm answers rc=1 and nothing else; Hydra rc=-1 msg=key_<key>_not_found
        // value=unknown. Any other failure keeps its rc.
        const msg = reply!.fields.get('msg');
        if (msg === undefined || /^key_.*_not_found$/.test(msg)) return undefined;
        SocketPmiClient.checkRc(reply!, 'get');
      }
      const value = reply!.fields.get('value');
      if (value === undefined) throw protocolError('get_result without value');
      return value;
    }
    const fields: Record<string, string | number> = {};
    if (this.jobId !== undefined) fields.jobid = this.jobId;
    fields.srcid = fromRank ?? -1;
    fields.key = wireKey;
    const reply = await this.call('kvs-get', 'kvs-get-response', fields);
    const found = reply.fields.get('found');
    if (found === 'FALSE') return undefined;
    if (found !== 'TRUE') throw protocolError(`kvs-get-response with found=${found === undefined ? '(none)' : excerpt(found)}`);
    const value = reply.fields.get('value');
    if (value === undefined) throw protocolError('kvs-get-response found=TRUE without value');
    return value;
  }

  // --- ending

  async abort(exitCode: number, message: string): Promise<void> {
    if (!Number.isInteger(exitCode) || exitCode < 0 || exitCode > 255) {
      throw tsmpiError('TSMPI_ERR_ARG', `PMI abort: exit code ${exitCode} is not an integer in [0, 255]`);
    }
    if (this.state !== 'open' || this.failure !== undefined || this.socket.destroyed) return; // nothing to tell
    this.state = 'aborted';
    // PMI-1 `abort exitcode=N`: Hydra ends the job with exit code N; Slurm kills the step (SIGKILL, srun
    // exits 137). PMI-2 `abort;isworld=TRUE`: Slurm kills the step likewise (it ignores the message, and a
    // misspelt key such as isworldabort silently does nothing); Hydra 4.0 has no PMI-2 abort ("Unrecognized
    // PMI command", mpiexec exits 255) but reads any message starting with "cmd=" as PMI-1, even on a
    // PMI-2 connection — so Hydra is always sent the PMI-1 form, which keeps the exit code.
    const text = this.dialect === 'pmi1' || this.launcher === 'hydra'
      ? formatPmi1('abort', { exitcode: exitCode })
      : formatPmi2('abort', { isworld: 'TRUE', msg: sanitizeMessage(message) || 'abort' });
    // Neither server answers an abort; queued requests will never be, so they fail now.
    const pending = this.waiting.splice(0);
    const aborted = tsmpiError('TSMPI_ERR_ABORTED', `PMI: aborted with exit code ${exitCode}`);
    for (const waiter of pending) waiter.reject(aborted);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ABORT_FLUSH_MS);
      timer.unref();
      this.socket.ref(); // until the bytes are out
      this.socket.write(text, () => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.socket.unref();
  }

  async finalize(): Promise<void> {
    if (this.state === 'finalized') return;
    if (this.dialect === 'pmi1') await this.call('finalize', 'finalize_ack');
    else await this.call('finalize', 'finalize-response');
    this.state = 'finalized';
    // The server closes its end after finalize; ours goes too, and that close is not a failure.
    this.socket.removeAllListeners('close');
    this.socket.on('close', () => undefined);
    this.socket.end();
    this.socket.unref();
  }

  close(): void {
    if (this.state === 'open' || this.state === 'aborted') this.state = 'closed';
    this.fail(tsmpiError('TSMPI_ERR_INTERN', 'PMI client was closed'));
  }
}

/**
 * Runs the PMI start-up on an already connected socket (used by connectPmi; tests hand in a socket to a
 * fake server). Rejects with TsmpiError and destroys the socket if the handshake fails or times out.
 */
export async function openPmiClient(socket: net.Socket, options: OpenPmiOptions): Promise<PmiClient> {
  const client = new SocketPmiClient(socket, options);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(protocolError(`no answer to the PMI handshake within ${INIT_TIMEOUT_MS / 1000} s`)), INIT_TIMEOUT_MS);
    timer.unref();
  });
  try {
    await Promise.race([client.init(options), timeout]);
    return client;
  } catch (error) {
    client.close();
    throw isTsmpiError(error) ? error : tsmpiError('TSMPI_ERR_PROTOCOL', `PMI start-up failed: ${String(error)}`, error);
  } finally {
    clearTimeout(timer);
  }
}

function socketFromFd(raw: string): net.Socket {
  if (!/^[0-9]+$/.test(raw)) throw tsmpiError('TSMPI_ERR_ARG', `PMI_FD=${raw} is not a file descriptor number`);
  try {
    // readable/writable default to false for a socket made from a descriptor.
    return new net.Socket({ fd: Number(raw), readable: true, writable: true });
  } catch (error) {
    throw tsmpiError('TSMPI_ERR_ARG', `PMI_FD=${raw} is not a usable socket: ${(error as Error).message}`, error);
  }
}

function connectPort(raw: string): Promise<net.Socket> {
  // host:port, the host possibly a bracketed IPv6 address.
  const match = /^\[?([^\]]*)\]?:([0-9]{1,5})$/.exec(raw);
  if (!match || match[1] === '' || Number(match[2]) > 65535) {
    return Promise.reject(tsmpiError('TSMPI_ERR_ARG', `PMI_PORT=${raw} is not host:port`));
  }
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: match[1]!, port: Number(match[2]) });
    socket.once('connect', () => {
      socket.removeListener('error', onError);
      socket.setNoDelay(true);
      resolve(socket);
    });
    const onError = (error: Error): void => reject(tsmpiError('TSMPI_ERR_PEER_LOST', `cannot reach the PMI server at ${raw}: ${error.message}`, error));
    socket.once('error', onError);
  });
}

/**
 * Connects to the PMI server of the launcher that started this process and completes the handshake,
 * or returns null when the environment has no PMI (neither PMI_FD nor PMI_PORT).
 */
export async function connectPmi(env: NodeJS.ProcessEnv = process.env): Promise<PmiClient | null> {
  const fd = env.PMI_FD;
  const port = env.PMI_PORT;
  if ((fd === undefined || fd === '') && (port === undefined || port === '')) return null;
  const launcher = detectPmiLauncher(env);
  const dialect = choosePmiDialect(env, launcher);
  const viaFd = fd !== undefined && fd !== '';
  const socket = viaFd ? socketFromFd(fd) : await connectPort(port!);
  return openPmiClient(socket, { dialect, launcher, env, viaPort: !viaFd });
}
