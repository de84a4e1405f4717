// Channels between rank threads of one process (tsmpirun --ranks threads), through the memory they
// share (shm-arena.ts): per ordered pair of ranks one single-producer single-consumer byte ring, made by
// its producer on its first message. A frame is copied into the ring and its bytes published by one
// atomic store of the ring's head; the consumer reads them with the frame parser (wire/parser.ts), which
// copies a payload straight into the posted receive buffer, so a message costs a copy in and a copy out,
// pipelined through the ring for large ones (the ring is a byte stream: a frame larger than the ring
// goes through it in pieces as the consumer frees room). The consumer learns of new bytes from its
// doorbell (one word for all its rings: ANY_SOURCE waits on one word).
//
// Nothing here runs by itself: `progress()` moves bytes both ways. It runs while the program waits for a
// request (Request.wait spins on it for a bounded time, then the rank parks), when a parked rank's
// doorbell rings (Atomics.waitAsync), and on Request.test. Spinning costs a core, so a rank spins only
// when the process's rank threads fit the cores; otherwise it parks at once.
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { tsmpiError } from '../errors.js';
import type { WireLimits } from '../wire/header.js';
import { FrameParser } from '../wire/parser.js';
import type { Channel, ChannelSink, SharedRegion, WriteDone } from './channel.js';
import { Arena, BELL_COUNT, BELL_PARKED } from './shm-arena.js';

// Ring layout: head (written by the producer), tail (by the consumer) and the producer's "waiting for
// room" flag each on a cache line of its own, then the data.
const RING_HEAD = 0;
const RING_TAIL = 16;
const RING_WAITING = 32;
const RING_DATA_OFFSET = 3 * 64;

/**
 * Bytes a producer copies into a ring before it publishes them, and a consumer hands to the parser
 * before it frees them: a large frame then streams, the consumer copying out one piece while the
 * producer copies in the next, instead of the two copies taking turns a ring at a time.
 */
const STREAM_PIECE = 64 * 1024;

/**
 * Every frame starts at a multiple of 8 bytes of the ring (FrameParser's frameAlign; the writer pads):
 * V8 copies between a SharedArrayBuffer and another buffer a word at a time only when both sides are
 * word-aligned, and byte by byte otherwise, ~8× slower (1 MiB: 60 vs 450–560 µs here). Without it, one
 * frame of odd length (an object) slowed every large message after it.
 */
const FRAME_ALIGN = 8;
const PADDING = new Uint8Array(FRAME_ALIGN);

/** A spinning wait that saw no byte move for this long parks (ms). */
const IDLE_SPIN_MS = 0.5;
/** A spinning wait gives the event loop a turn after this long, bytes moving or not (ms). */
const MAX_SPIN_MS = 4;
/** A spinning wait reads the clock once in this many turns (performance.now() costs ~60 ns here). */
const CLOCK_EVERY = 16;

/** Ring size for `ranks` threads: 1 MiB each for a few ranks, less for many (a ring per pair that talks). */
export function ringBytes(ranks: number): number {
  let bytes = 1 << 20;
  while (bytes > 64 * 1024 && bytes * ranks > 8 * 1024 * 1024) bytes >>= 1;
  return bytes;
}

/** One ring: a view of its control words and data. */
export class Ring {
  readonly words: Int32Array;
  readonly data: Uint8Array;
  readonly size: number;
  readonly mask: number;
  readonly head: number;
  readonly tail: number;
  readonly waiting: number;

  /** `bytes`: the data's size, a power of two (the control lines come before it). */
  constructor(arena: Arena, offset: number, bytes: number) {
    this.words = arena.words;
    this.size = bytes;
    this.mask = this.size - 1;
    this.data = new Uint8Array(arena.buffer, offset + RING_DATA_OFFSET, this.size);
    this.head = offset / 4 + RING_HEAD;
    this.tail = offset / 4 + RING_TAIL;
    this.waiting = offset / 4 + RING_WAITING;
  }
}

/** A frame (or the rest of one) waiting for room in the ring. */
interface Pending {
  parts: Uint8Array[];
  /** Parts fully written so far, and bytes of the next one. */
  index: number;
  offset: number;
  done: WriteDone | undefined;
}

export class ShmChannel implements Channel {
  readonly peer: number;
  /** The peer's local index in the arena. */
  readonly local: number;
  #tx: Ring | undefined;
  /** Producer's position: bytes written (a wrapping 32-bit counter). */
  #txHead = 0;
  #rx: Ring | undefined;
  #rxTail = 0;
  #parser: FrameParser | undefined;
  readonly #pending: Pending[] = [];
  #sink: ChannelSink | undefined;
  #closed = false;

  constructor(private readonly transport: ShmTransport, peer: number, local: number) {
    this.peer = peer;
    this.local = local;
  }

  /** @internal The engine's sink: frames from the peer go there. */
  attach(sink: ChannelSink, limits: WireLimits): void {
    this.#sink = sink;
    this.#parser = new FrameParser(sink, limits, FRAME_ALIGN);
  }

  get hasPending(): boolean {
    return this.#pending.length > 0;
  }

  /** A frame from the peer is part-way through the ring: the rest of its bytes are on their way. */
  get midFrame(): boolean {
    return (this.#parser?.bytesPending ?? 0) > 0;
  }

  write(head: Uint8Array, payload: readonly Uint8Array[], done: WriteDone | undefined): boolean {
    if (this.#closed) {
      if (done) queueMicrotask(() => done(tsmpiError('TSMPI_ERR_PEER_LOST', `the channel to rank ${this.peer} is closed`)));
      return false;
    }
    const ring = (this.#tx ??= this.transport.makeRing(this.local));
    let bytes = head.length;
    for (const p of payload) bytes += p.length;
    const padding = -bytes & (FRAME_ALIGN - 1);
    if (this.#pending.length === 0) {
      const used = (this.#txHead - Atomics.load(ring.words, ring.tail)) | 0;
      if (ring.size - used >= bytes + padding) {
        this.#copyIn(ring, head, 0, head.length);
        for (const p of payload) {
          for (let at = 0; at < p.length; at += STREAM_PIECE) {
            this.#copyIn(ring, p, at, Math.min(STREAM_PIECE, p.length - at));
            if (at + STREAM_PIECE < p.length) this.#publish(ring);
          }
        }
        // The parser skips the padding unread: only the position moves.
        this.#txHead = (this.#txHead + padding) | 0;
        this.#publish(ring);
        return true;
      }
    }
    // Not all of it fits: what does goes now, the rest as the consumer frees room (maybe at once, as
    // it reads while we write: then the frame is handed off, and the caller need not wait for `done`).
    const parts = [head.slice(), ...payload];
    if (padding > 0) parts.push(PADDING.subarray(0, padding));
    const job: Pending = { parts, index: 0, offset: 0, done: undefined };
    this.#pending.push(job);
    this.transport.wantsRoom(this);
    this.pump(false);
    if (!this.#pending.includes(job)) return true;
    job.done = done;
    return false;
  }

  /**
   * Writes as much of the waiting frames as the ring has room for; true if any byte went. `tellNow`:
   * completions are told before it returns (from progress, so that a wait spinning on a send sees it
   * complete); from write(), in a microtask, as the engine expects of a write that returned false.
   */
  pump(tellNow: boolean): boolean {
    const ring = this.#tx;
    if (!ring || this.#pending.length === 0) return false;
    let free = ring.size - ((this.#txHead - Atomics.load(ring.words, ring.tail)) | 0);
    let wrote = false;
    let completed: WriteDone[] | undefined;
    while (this.#pending.length > 0 && free > 0) {
      const job = this.#pending[0]!;
      while (job.index < job.parts.length && free > 0) {
        const part = job.parts[job.index]!;
        const n = Math.min(free, part.length - job.offset, STREAM_PIECE);
        this.#copyIn(ring, part, job.offset, n);
        this.#publish(ring);
        free -= n;
        wrote ||= n > 0;
        job.offset += n;
        if (job.offset === part.length) {
          job.index++;
          job.offset = 0;
        }
        if (free === 0) free = ring.size - ((this.#txHead - Atomics.load(ring.words, ring.tail)) | 0);
      }
      if (job.index < job.parts.length) break;
      this.#pending.shift();
      // Published before its completion is told: the caller may reuse its buffers once it is.
      if (job.done) (completed ??= []).push(job.done);
    }
    // Ask the consumer to ring our bell when it frees room; look again in case it just did.
    Atomics.store(ring.words, ring.waiting, this.#pending.length > 0 ? 1 : 0);
    if (completed) {
      if (tellNow) for (const done of completed) done();
      else for (const done of completed) queueMicrotask(() => done());
    }
    return wrote;
  }

  #copyIn(ring: Ring, src: Uint8Array, from: number, n: number): void {
    const pos = this.#txHead & ring.mask;
    const first = Math.min(n, ring.size - pos);
    ring.data.set(first === src.length && from === 0 ? src : src.subarray(from, from + first), pos);
    if (first < n) ring.data.set(src.subarray(from + first, from + n), 0);
    this.#txHead = (this.#txHead + n) | 0;
  }

  #publish(ring: Ring): void {
    Atomics.store(ring.words, ring.head, this.#txHead);
    this.transport.arena.ring(this.local);
  }

  /** Hands the peer a shared region for one transfer (ShmTransport.share): its id, or -1. */
  share(region: SharedRegion): number {
    return this.transport.share(this.local, region);
  }

  /** The region the peer handed over under `id`. */
  take(id: number): SharedRegion {
    return this.transport.take(this.local, id);
  }

  /** The ring from the peer exists (found in the directory). */
  attachRx(offset: number, bytes: number): void {
    this.#rx = new Ring(this.transport.arena, offset, bytes);
  }

  get hasRx(): boolean {
    return this.#rx !== undefined;
  }

  /** Hands every byte the peer has published to the parser; true if there were any. */
  drain(): boolean {
    const ring = this.#rx;
    if (!ring || this.#closed) return false;
    const published = Atomics.load(ring.words, ring.head);
    let tail = this.#rxTail;
    if (published === tail) return false;
    const parser = this.#parser!;
    try {
      for (let head = published; tail !== head; head = Atomics.load(ring.words, ring.head)) {
        const pos = tail & ring.mask;
        const n = Math.min((head - tail) | 0, ring.size - pos, STREAM_PIECE);
        this.#sink!.onBytes(n);
        parser.push(ring.data.subarray(pos, pos + n));
        tail = (tail + n) | 0;
        // Room for the producer as soon as the piece is read, not once the ring is.
        Atomics.store(ring.words, ring.tail, tail);
        if (Atomics.load(ring.words, ring.waiting) !== 0) this.transport.arena.ring(this.local);
      }
    } catch (e) {
      this.#fail(e);
      return true;
    } finally {
      this.#rxTail = tail;
      Atomics.store(ring.words, ring.tail, tail);
    }
    return true;
  }

  #fail(e: unknown): void {
    this.close();
    this.#sink?.onClosed(e instanceof Error ? e : new Error(String(e)));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const error = tsmpiError('TSMPI_ERR_PEER_LOST', `the channel to rank ${this.peer} is closed`);
    for (const job of this.#pending.splice(0)) if (job.done) queueMicrotask(() => job.done!(error));
  }
}

export interface ShmTransportOptions {
  /** Spin while waiting (the process's rank threads fit its cores); otherwise park at once. */
  spin: boolean;
  /** To the host's main thread, which makes each pair of rank threads a port of its own on request. */
  hostPort: MessagePort | undefined;
  limits: WireLimits;
  /** A channel from a peer appeared (it sent first): the engine adopts it. */
  onInbound(channel: ShmChannel): void;
}

/** One rank thread's side of the shared memory: its channels, and the progress that moves their bytes. */
export class ShmTransport {
  readonly arena: Arena;
  readonly #channels: (ShmChannel | undefined)[];
  readonly #ringBytes: number;
  readonly #bell: number;
  /** Doorbell count up to which this rank has looked at everything. */
  #seen = 0;
  #rxCount = 0;
  readonly #waitingForRoom = new Set<ShmChannel>();
  #armed = false;
  #closed = false;
  /** A #parkSoon is pending. */
  #parkPending = false;
  readonly #options: ShmTransportOptions;
  /** Ports of our own to peers (by local index), for handing them shared buffers. */
  readonly #ports: (MessagePort | undefined)[];
  readonly #portRequested = new Set<number>();
  /** Regions peers handed us that no frame has claimed yet, by peer and id. */
  readonly #regions = new Map<number, Map<number, SharedRegion>>();
  #nextRegion = 0;

  constructor(arena: Arena, options: ShmTransportOptions) {
    this.arena = arena;
    this.#options = options;
    this.#channels = new Array(arena.size);
    this.#ports = new Array(arena.size);
    this.#ringBytes = ringBytes(arena.size);
    this.#bell = arena.bell(arena.me) + BELL_COUNT;
    this.#seen = Atomics.load(arena.words, this.#bell);
    this.#arm();
  }

  /** Whether world rank `peer` is a thread of this process. */
  reaches(peer: number): boolean {
    const local = this.arena.localOf(peer);
    return local >= 0 && local !== this.arena.me;
  }

  /** The channel to world rank `peer` (a thread of this process), made on first use. */
  channel(peer: number): ShmChannel {
    const local = this.arena.localOf(peer);
    let channel = this.#channels[local];
    if (!channel) {
      channel = new ShmChannel(this, peer, local);
      this.#channels[local] = channel;
      this.#findRx(channel);
    }
    return channel;
  }

  /** @internal Makes this rank's ring to local rank `to`. */
  makeRing(to: number): Ring {
    const offset = this.arena.makeRing(to, RING_DATA_OFFSET + this.#ringBytes);
    return new Ring(this.arena, offset, this.#ringBytes);
  }

  /**
   * Hands local rank `to` a shared region for one transfer; returns its id, or -1 when there is no
   * port to `to` yet (one is asked for now: this transfer goes through the ring, later ones need not).
   */
  share(to: number, region: SharedRegion): number {
    const port = this.#portTo(to);
    if (!port) return -1;
    const id = ++this.#nextRegion;
    port.postMessage({ id, buffer: region.buffer, offset: region.offset, length: region.length });
    return id;
  }

  /** The region local rank `from` handed us under `id` (its frame naming it came after the hand-over). */
  take(from: number, id: number): SharedRegion {
    let regions = this.#regions.get(from);
    let region = regions?.get(id);
    const port = this.#portTo(from);
    while (!region && port) {
      const message = receiveMessageOnPort(port)?.message as ({ id: number } & SharedRegion) | undefined;
      if (!message) break;
      if (!regions) this.#regions.set(from, (regions = new Map()));
      regions.set(message.id, { buffer: message.buffer, offset: message.offset, length: message.length });
      region = regions.get(id);
    }
    if (!region) throw tsmpiError('TSMPI_ERR_PROTOCOL', `rank ${this.arena.worldRanks[from]} named a shared buffer (${id}) it never handed over`);
    regions!.delete(id);
    return region;
  }

  /** Our port to local rank `peer`: known, just arrived from the host, or asked for now (undefined). */
  #portTo(peer: number): MessagePort | undefined {
    const hostPort = this.#options.hostPort;
    if (this.#ports[peer] || !hostPort) return this.#ports[peer];
    for (let m = receiveMessageOnPort(hostPort); m; m = receiveMessageOnPort(hostPort)) {
      const { peer: from, port } = m.message as { peer: number; port: MessagePort };
      this.#ports[from] = port;
    }
    if (!this.#ports[peer] && !this.#portRequested.has(peer)) {
      this.#portRequested.add(peer);
      hostPort.postMessage({ t: 'connect', to: peer });
    }
    return this.#ports[peer];
  }

  /** @internal `channel` has a frame waiting for room. */
  wantsRoom(channel: ShmChannel): void {
    this.#waitingForRoom.add(channel);
  }

  #findRx(channel: ShmChannel): void {
    if (channel.hasRx) return;
    const offset = this.arena.ringOffset(channel.local, this.arena.me);
    if (offset === 0) return;
    channel.attachRx(offset, this.#ringBytes);
    this.#rxCount++;
  }

  /** Moves whatever can move, both ways; true if any byte did. */
  progress(): boolean {
    const bell = Atomics.load(this.arena.words, this.#bell);
    if (bell === this.#seen && this.#waitingForRoom.size === 0) return false;
    this.#seen = bell;
    let moved = false;
    if (this.#rxCount < this.arena.size - 1) this.#discover();
    for (const channel of this.#channels) if (channel?.drain()) moved = true;
    if (this.#waitingForRoom.size > 0) {
      for (const channel of this.#waitingForRoom) {
        if (channel.pump(true)) moved = true;
        if (!channel.hasPending) this.#waitingForRoom.delete(channel);
      }
    }
    return moved;
  }

  /** Rings from peers that sent for the first time. */
  #discover(): void {
    const { arena } = this;
    for (let local = 0; local < arena.size; local++) {
      if (local === arena.me) continue;
      const known = this.#channels[local];
      if (known?.hasRx) continue;
      if (arena.ringOffset(local, arena.me) === 0) continue;
      if (known) {
        this.#findRx(known);
      } else {
        const channel = this.channel(arena.worldRanks[local]!);
        this.#options.onInbound(channel);
      }
    }
  }

  /**
   * The program waits for something (`waiting.done` says when it came): move bytes until it is done, for a
   * bounded time — or, when the rank threads outnumber the cores, only once — then let the event loop
   * run; the rank is woken by its doorbell.
   */
  spin(waiting: { readonly done: boolean }): void {
    const words = this.arena.words, parked = this.arena.bell(this.arena.me) + BELL_PARKED;
    if (!this.#options.spin) {
      this.progress();
      return;
    }
    // Producers need not wake a rank that is watching its doorbell.
    Atomics.store(words, parked, 0);
    const start = performance.now();
    let last = start;
    let moved = false;
    for (let turn = 1; !waiting.done; turn++) {
      if (this.progress()) moved = true;
      // The clock every CLOCK_EVERY turns: a read costs more than a turn that finds nothing, and the
      // turns between two reads are what a message waits to be seen.
      if (turn % CLOCK_EVERY !== 0) continue;
      const now = performance.now();
      if (moved) last = now;
      else if (now - last > IDLE_SPIN_MS) break;
      if (now - start > MAX_SPIN_MS) break;
      moved = false;
    }
    if (this.#armed) this.#parkSoon();
  }

  /**
   * Raises the sleeping flag when the event loop next comes around (a pending immediate keeps it from
   * sleeping before then). Until then this rank runs its program, and its next wait spins again, so a
   * producer need not wake it: parking at once made every message that arrived between two waits of a
   * ping-pong cost an Atomics.notify and a turn of the receiver's event loop.
   */
  #parkSoon(): void {
    if (this.#parkPending) return;
    this.#parkPending = true;
    setImmediate(this.#parkNow);
  }

  readonly #parkNow = (): void => {
    this.#parkPending = false;
    if (this.#armed && !this.#closed) this.#park();
  };

  /** Watches the doorbell from the event loop (parked), and makes progress whenever it rings. */
  #arm(): void {
    if (this.#armed || this.#closed) return;
    this.#armed = true;
    const words = this.arena.words;
    const result = Atomics.waitAsync(words, this.#bell, this.#seen);
    this.#park();
    if (result.async) void result.value.then(() => this.#wake());
    else setImmediate(() => this.#wake());
  }

  /** Raises the sleeping flag; a doorbell that rang since the watch began wakes it at once. */
  #park(): void {
    const words = this.arena.words, parked = this.arena.bell(this.arena.me) + BELL_PARKED;
    Atomics.store(words, parked, 1);
    if (Atomics.load(words, this.#bell) !== this.#seen) Atomics.notify(words, this.#bell);
  }

  #wake(): void {
    this.#armed = false;
    if (this.#closed) return;
    const words = this.arena.words, parked = this.arena.bell(this.arena.me) + BELL_PARKED;
    Atomics.store(words, parked, 0);
    if (this.#options.spin) {
      // A burst: while a frame streams through a ring (or ours wait for room), keep moving its bytes.
      // Once none does, return at once: what arrived completes only when the program's microtasks run,
      // and spinning on here for an idle spell delayed every wake of a parked rank by that spell.
      const start = performance.now();
      let last = start;
      for (;;) {
        const moved = this.progress();
        if (!this.#streaming()) break;
        const now = performance.now();
        if (moved) last = now;
        else if (now - last > IDLE_SPIN_MS / 4) break;
        if (now - start > MAX_SPIN_MS) break;
      }
    } else {
      while (this.progress()) { /* until nothing moves */ }
    }
    // Watching the doorbell again (Atomics.waitAsync, 4–7 µs here) waits for the event loop to come
    // around: what arrived completes in the microtasks right after this, before it. Until then the
    // rank is awake and its flag down, so producers need not wake it.
    setImmediate(this.#armNow);
  }

  readonly #armNow = (): void => this.#arm();

  /** Bytes are part-way between this rank and a peer: a frame arriving, or one of ours waiting for room. */
  #streaming(): boolean {
    if (this.#waitingForRoom.size > 0) return true;
    for (const channel of this.#channels) if (channel?.midFrame) return true;
    return false;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const channel of this.#channels) channel?.close();
    for (const port of this.#ports) port?.close();
    // Ends the doorbell watch, which no timeout would.
    Atomics.add(this.arena.words, this.#bell, 1);
    Atomics.notify(this.arena.words, this.#bell);
  }
}
