// Status of a receive or probe (API.md "Point-to-point"): filled in by typed receives and probes,
// and by lowercase receives when the caller passes one, as in mpi4py.
/**
 * What a receive or probe learned about its message: who sent it, with which tag, and how large it is.
 * Typed receives (`Recv`, `Irecv`, `Sendrecv`…) and probes resolve to one; a lowercase receive (`recv`,
 * `sendrecv`) fills in one you pass, as in mpi4py. A new Status has source -1, tag -1, count 0.
 *
 * @example
 * ```ts
 * const status = new Status();
 * const msg = await comm.recv<string>(ANY_SOURCE, ANY_TAG, status);
 * console.log(`${msg} from rank ${status.source}, tag ${status.tag}, ${status.count} bytes`);
 * ```
 */
export class Status {
  /** Rank of the sender in the communicator of the call (PROC_NULL for a receive from PROC_NULL). */
  source = -1;
  /** The message's tag (useful after a receive with ANY_TAG). */
  tag = -1;
  /** Elements for typed messages, bytes for objects. */
  count = 0;
  /** True when the receive was cancelled before anything matched it. */
  cancelled = false;

  /** @internal Copies another status into this one (used to fill a caller-supplied Status). */
  assign(other: Status): this {
    this.source = other.source;
    this.tag = other.tag;
    this.count = other.count;
    this.cancelled = other.cancelled;
    return this;
  }
}
