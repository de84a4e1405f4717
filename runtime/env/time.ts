// MPI's clock and host name (API.md "Environment").
import { hostname } from 'node:os';

/**
 * Seconds since an arbitrary origin, with nanosecond resolution (MPI_Wtime): subtract two readings to
 * time a stretch of code. The origin differs between ranks (and hosts), so compare durations, not
 * readings.
 *
 * @example
 * ```ts
 * const t0 = Wtime();
 * await comm.Allreduce(IN_PLACE, field, SUM);
 * if (comm.rank === 0) console.log(`allreduce took ${(Wtime() - t0) * 1e3} ms`);
 * ```
 */
export function Wtime(): number {
  return Number(process.hrtime.bigint()) / 1e9;
}

/** Resolution of {@link Wtime} in seconds (MPI_Wtick): 1e-9. */
export function Wtick(): number {
  return 1e-9;
}

/** The name of the host this rank runs on (MPI_Get_processor_name): the operating system's host name. */
export function getProcessorName(): string {
  return hostname();
}
