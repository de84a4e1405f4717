// Runs a command to its end without blocking the test worker (vitest talks to it meanwhile, and a first
// package install takes minutes). A failure, or the timeout, throws with everything the command printed.
import { spawn } from 'node:child_process';

export interface CommandOptions {
  cwd: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs: number;
  /** How the command is named in the error (default: the command line). */
  what?: string;
}

/** Resolves with the command's stdout once it exits 0. */
export function runCommand(command: string, args: readonly string[], options: CommandOptions): Promise<string> {
  const what = options.what ?? [command, ...args].join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else reject(new Error(`${what} (in ${options.cwd}) failed: exit ${code}${signal ? `, ${signal}` : ''}\n--- stdout\n${stdout}--- stderr\n${stderr}`));
    });
  });
}
