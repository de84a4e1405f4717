// MPI's clock and host name (API.md "Environment").
import { hostname } from 'node:os';

/** Seconds since an arbitrary origin, with nanosecond resolution (MPI_Wtime). */
export function Wtime(): number {
  return Number(process.hrtime.bigint()) / 1e9;
}

/** Resolution of Wtime in seconds. */
export function Wtick(): number {
  return 1e-9;
}

export function getProcessorName(): string {
  return hostname();
}
