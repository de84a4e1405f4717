// Runs a program given as a job bundle in script form (launcher/transform.ts): its module code, with
// no import or export left in it, as the body of an async function that is called once the rank has
// joined. A rank then never starts Node's ES module loader, which costs ~8–10 ms of CPU per rank
// start here, ~0.1 s of a 16-rank launch on 2 cores.
//
// What an ES module's top level gets from Node, the program gets here too: strict code (the bundle
// says "use strict"), `this` undefined, top-level await; an error it throws, at once or after an
// await, becomes an uncaught exception; and if the process would exit while the program is still
// awaiting, with nothing left that could settle it, the exit status is 13 unless one was set, as for
// an unsettled top-level await.

/** Node's exit status for a process that ends while its main module's top-level await is unsettled. */
const UNSETTLED_TOP_LEVEL_AWAIT = 13;

export function runProgram<Runtime>(runtime: Promise<Runtime>, program: (this: undefined, runtime: Runtime) => Promise<unknown>): void {
  const whileUnsettled = () => {
    process.exitCode ??= UNSETTLED_TOP_LEVEL_AWAIT;
  };
  process.on('exit', whileUnsettled);
  runtime
    .then((joined) => program.call(undefined, joined))
    .then(
      () => {
        process.off('exit', whileUnsettled);
      },
      (error: unknown) => {
        process.off('exit', whileUnsettled);
        process.nextTick(() => {
          throw error;
        });
      },
    );
}
