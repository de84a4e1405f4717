// What a job is asked to do, as decided by the command line (launcher/cli.ts) and consumed by the job
// (launcher/job.ts). Plain data only: everything here is already validated and resolved, so the job never
// re-checks paths or numbers and never looks at argv again.

/** One host to start ranks on, with how many ranks it takes before it counts as oversubscribed. */
export interface HostSpec {
  host: string;
  slots: number;
}

export interface LaunchOptions {
  /**
   * undefined: not given, the job decides: the slots of the hosts when given, else the allocation's task
   * count inside a Slurm allocation, else the number of cores.
   */
  np: number | undefined;
  /** Absolute path of the user's script (.ts .mts .js .mjs). */
  script: string;
  /** Everything after the script, untouched, even tokens that look like tsmpirun options. */
  scriptArgs: string[];
  oversubscribe: boolean;
  tagOutput: boolean;
  /** Absolute directory under which each rank's stdout/stderr is also written (Open MPI layout). */
  outputFilename: string | undefined;
  /** From `-x NAME=VALUE`, or `-x NAME` with the value taken from tsmpirun's own environment. */
  env: Record<string, string>;
  timeoutSeconds: number | undefined;
  /** Options for node itself, in the order given (`--node-arg`, repeatable). */
  nodeArgs: string[];
  /** From `--host` or `--hostfile`; undefined when neither was given (run locally). */
  hosts: HostSpec[] | undefined;
  /** Replaces ssh for starting ranks on other hosts. */
  launchAgent: string | undefined;
  /** On by default; `--no-deadlock-detection` turns it off. */
  deadlockDetection: boolean;
  /**
   * How ranks on one host run: as worker threads of one process, talking through shared memory, or as
   * processes of their own talking through sockets (`--ranks`, or TSMPI_RANKS).
   */
  ranks: RankMode;
  /** `--profile`, `--trace FILE`, `--comm-matrix FILE.svg` (or TSMPI_PROFILE, TSMPI_TRACE, TSMPI_COMM_MATRIX): absolute paths. */
  observe: ObserveOptions;
}

/** What the job records and where tsmpirun writes it (runtime/observe/). */
export interface ObserveOptions {
  /** The directory of the profile's full report (--output-filename's, or the working directory); undefined: no profile. */
  profile: string | undefined;
  trace: string | undefined;
  matrix: string | undefined;
}

export type RankMode = 'threads' | 'processes';
