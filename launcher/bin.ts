#!/usr/bin/env node
// tsmpirun from the modules tsc emits (dist/tsmpirun.js, the one-file launcher, runs these when it is
// older than they are).
import { main } from './main.js';

await main();
