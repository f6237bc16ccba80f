import { DircacheError, EXIT } from './errors.js';

/** What every command prints: one JSON object with --json, else human lines on stderr/stdout. */
export interface OutputFlags {
  json?: boolean;
  quiet?: boolean;
}

export function printResult(flags: OutputFlags, json: unknown, human: () => string[]): void {
  if (flags.json) {
    process.stdout.write(JSON.stringify(json) + '\n');
    return;
  }
  if (flags.quiet) return;
  for (const line of human()) process.stdout.write(line + '\n');
}

export function warn(flags: OutputFlags, msg: string): void {
  if (!flags.quiet) process.stderr.write(warningLine(msg));
}

export const warningLine = (msg: string) => `dircache: warning: ${msg}\n`;

/** One line naming the problem and the fix; no stack trace unless it is a bug. */
export function reportError(flags: OutputFlags, e: unknown): number {
  if (e instanceof DircacheError) {
    if (flags.json) process.stdout.write(JSON.stringify({ error: { code: e.code, message: e.message } }) + '\n');
    process.stderr.write(`dircache: error: ${e.message}\n`);
    return e.exitCode;
  }
  const err = e as NodeJS.ErrnoException;
  if (err?.code && err.syscall) {
    // an OS error we did not anticipate: still one line, with what failed
    if (flags.json) process.stdout.write(JSON.stringify({ error: { code: err.code, message: err.message } }) + '\n');
    process.stderr.write(`dircache: error: ${err.message}\n`);
    return EXIT.error;
  }
  process.stderr.write(`dircache: internal error (please report): ${err?.stack ?? String(e)}\n`);
  return EXIT.error;
}

/** Run a command's handler: errors become one line and an exit code (README "Exit codes"). */
export async function runGuarded<A extends OutputFlags>(handler: (a: A) => void | Promise<void>, args: A): Promise<void> {
  try {
    await handler(args);
  } catch (e) {
    process.exitCode = reportError(args, e);
  }
}
