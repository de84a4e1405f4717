// What the engine (p2p/engine.ts) sees of a peer: a channel that carries frames both ways. The engine
// decides the protocol (eager, rendezvous, credits, acknowledgements); a channel only moves a frame's
// bytes in order and hands the frames it receives to the engine's sink. The channels are peers in this
// folder, as Open MPI's BTLs sit under its PML and MPICH's netmods and shmmods under CH4:
//  - socket-channel.ts: a Unix or TCP socket (made on demand by transport.ts, authenticated);
//  - shm-channel.ts: two rings in memory shared by rank threads of one process (shm-arena.ts);
//  - self-channel.ts: a rank's messages to itself.
import type { FrameSink } from '../wire/parser.js';

/** Called once a queued frame's bytes are handed off, or with the error that stopped them. */
export type WriteDone = (error?: Error | null) => void;

export interface Channel {
  /**
   * Writes one frame: `head` (the 32-byte header, read before this returns, so the caller may reuse
   * it) then `payload`, in order behind everything written before. Returns true when every byte was
   * handed off before returning: the caller may reuse the payload's buffers at once and `done` is not
   * called. Returns false when some are queued: `done` is called later (never from within this call)
   * once they are handed off, or with the error that stopped them.
   */
  write(head: Uint8Array, payload: readonly Uint8Array[], done: WriteDone | undefined): boolean;
  /** Closes the channel; the sink's onClosed follows. */
  close(): void;
  /**
   * Channels between rank threads of one process only: hands the peer a region of shared memory for one
   * large transfer, which it copies into or out of directly (one copy instead of two through the ring);
   * its id, or -1 when it cannot be handed over now.
   */
  share?(region: SharedRegion): number;
  /** The region the peer handed over under `id` (share on its side). */
  take?(id: number): SharedRegion;
}

/** A piece of shared memory one side of a transfer hands the other. */
export interface SharedRegion {
  readonly buffer: SharedArrayBuffer;
  readonly offset: number;
  readonly length: number;
}

/** The engine's side of one channel: frames as they arrive, byte counts, and the end. */
export interface ChannelSink extends FrameSink {
  /** `n` more bytes arrived (hang reports: a large frame still streaming is progress). */
  onBytes(n: number): void;
  /** The channel is gone: closed by the peer, failed (`error`), or closed here. */
  onClosed(error?: Error): void;
}
