// Status of a receive or probe (API.md "Point-to-point"): filled in by typed receives and probes,
// and by lowercase receives when the caller passes one, as in mpi4py.
export class Status {
  /** Rank of the sender in the communicator of the call (PROC_NULL for a receive from PROC_NULL). */
  source = -1;
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
