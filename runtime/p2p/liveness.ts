// Keeps the process alive exactly while communication is outstanding. Sockets are unref'd so a
// program ends by itself when its code is done; a pending receive, a rendezvous send waiting for
// its peer, or frames queued behind a connection still being made hold the event loop open.
let holders = 0;
let timer: NodeJS.Timeout | undefined;

export function holdLoop(): void {
  if (holders++ === 0) {
    timer ??= setInterval(() => {}, 0x7fffffff);
    timer.ref();
  }
}

export function releaseLoop(): void {
  if (--holders === 0) timer!.unref();
}

export function loopHolders(): number {
  return holders;
}
