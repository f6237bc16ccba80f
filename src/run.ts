import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { resolve } from 'node:path';
import { parseDepfile } from './depfile.js';
import type { DownloadRequest, DownloadResult } from './download.js';
import { ConfigError, DircacheError, UsageError } from './errors.js';
import type { UploadRequest, UploadResult } from './upload.js';
import { nowMs } from './clock.js';

/**
 * `dircache run`: download; on a miss run the command, then upload what it made. The job's own
 * result always wins: the exit code is the command's, and a cache problem (download or upload)
 * is only a warning.
 */

/** Who may read and write: DIRCACHE_MODE or the library's `mode`. */
export type Mode = 'read-write' | 'read-only' | 'write-only' | 'off';
const MODES: readonly Mode[] = ['read-write', 'read-only', 'write-only', 'off'];

export function parseMode(value: string | undefined, source = 'DIRCACHE_MODE'): Mode {
  if (value === undefined || value === '') return 'read-write';
  if ((MODES as readonly string[]).includes(value)) return value as Mode;
  throw new ConfigError(`${source}='${value}' is not valid: use one of ${MODES.join(', ')} (unset means read-write)`, 'EMODE');
}

export const canDownload = (m: Mode) => m === 'read-write' || m === 'read-only';
export const canUpload = (m: Mode) => m === 'read-write' || m === 'write-only';

/** The input under which the command line is recorded: changing a flag is a miss. */
export const COMMAND_INPUT = 'dircache.command';

export interface RunRequest {
  job: string;
  /** Files, symlinks or dirs the command makes, relative to the cwd. */
  targets: readonly string[];
  /** The command and its arguments, run without a shell. */
  command: readonly string[];
  deps?: readonly string[];
  /** A Make-style `.d` file the command writes (gcc -MD -MF): its prerequisites become deps too. */
  depsFile?: string;
  inputs?: Record<string, string>;
  repoKey?: string;
  /** false: never look in the cache (as --no-download). */
  download?: boolean;
  /** false: never store the result (as --no-upload). */
  upload?: boolean;
  /** Pass SIGTERM, SIGINT and SIGHUP received by this process on to the command (the CLI does). */
  forwardSignals?: boolean;
}

export interface RunResult {
  job: string;
  hit: boolean;
  /** Whether the command was run (false on a hit). */
  ran: boolean;
  /** 0 on a hit; else the command's exit status, 128 + signal number if a signal ended it, 127/126 if it could not be started. */
  exitCode: number;
  signal?: string;
  /** Seconds the command ran. */
  runTime?: number;
  download?: DownloadResult;
  upload?: UploadResult;
  /** Why nothing was stored although the command succeeded. */
  uploadError?: { code: string; message: string };
  warnings: string[];
}

/** The inputs a run is recorded under: the caller's and the command line. */
function runInputs(req: RunRequest): Record<string, string> {
  if (req.command.length === 0) throw new UsageError('no command given: put it after --, e.g. dircache run --job obj/a.o --target obj/a.o -- cc -c a.c -o obj/a.o');
  if (req.inputs && COMMAND_INPUT in req.inputs) throw new UsageError(`--input ${COMMAND_INPUT} is reserved: dircache records the command line under it`, 'EBADINPUT');
  return { ...req.inputs, [COMMAND_INPUT]: JSON.stringify(req.command) };
}

/**
 * A run's download step alone: what `dircache serve` answers for dircache-run. A failed download is
 * a warning (and a miss); undefined when the run does not look (--no-download).
 */
export async function lookUp(client: Transfers, req: RunRequest, warnings: string[]): Promise<DownloadResult | undefined> {
  const inputs = runInputs(req);
  if (req.download === false) return undefined;
  const got = await cacheStep(warnings, 'download', () => client.download({ job: req.job, deps: req.deps, inputs }));
  if (got) warnings.push(...got.warnings);
  return got;
}

/** What run needs from a client: its workspace and the two transfers (with their stats). */
export interface Transfers {
  readonly cwd: string;
  download(req: DownloadRequest): Promise<DownloadResult>;
  upload(req: UploadRequest): Promise<UploadResult>;
}

export async function run(client: Transfers, req: RunRequest): Promise<RunResult> {
  const warnings: string[] = [];
  const base = { job: req.job, warnings };
  const got = await lookUp(client, req, warnings);
  if (got?.hit) return { ...base, hit: true, ran: false, exitCode: 0, download: got };
  const inputs = runInputs(req);

  const t0 = nowMs();
  const exit = await runCommand(req.command, client.cwd, req.forwardSignals ?? false);
  const runTime = (nowMs() - t0) / 1000;
  if (exit.error) warnings.push(exit.error);
  const ran = { ...base, hit: false, ran: true, exitCode: exit.code, signal: exit.signal, runTime };
  if (exit.code !== 0 || req.upload === false) return ran;

  let uploadError: RunResult['uploadError'];
  const up = await cacheStep(
    warnings,
    'upload',
    async () => client.upload({ job: req.job, targets: req.targets, deps: [...(req.deps ?? []), ...readDeps(client.cwd, req.depsFile)], inputs, repoKey: req.repoKey, exeTime: runTime }),
    (e) => (uploadError = e),
  );
  if (up) warnings.push(...up.warnings);
  return { ...ran, upload: up, uploadError };
}

function readDeps(cwd: string, depsFile: string | undefined): string[] {
  if (depsFile === undefined) return [];
  const path = resolve(cwd, depsFile);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new DircacheError('ENODEPSFILE', `the deps file ${depsFile} was not written by the command (${(e as NodeJS.ErrnoException).code}): without it the job's deps are unknown`);
  }
  return parseDepfile(text, depsFile);
}

/**
 * A cache step that must not decide the job's result: its failure becomes a warning. A
 * misconfiguration (bad settings, bad arguments) still stops us: the build should hear of it.
 */
async function cacheStep<T>(warnings: string[], what: string, fn: () => Promise<T>, onError?: (e: { code: string; message: string }) => void): Promise<T | undefined> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof ConfigError || e instanceof UsageError) throw e;
    const err = e as NodeJS.ErrnoException;
    const info = { code: err.code ?? 'EUNKNOWN', message: err.message ?? String(e) };
    warnings.push(`${what} failed, the job's result is unaffected: ${info.message}`);
    onError?.(info);
    return undefined;
  }
}

const FORWARDED = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;

/** Run without a shell, stdio inherited; resolves with the status a shell would report. */
function runCommand(command: readonly string[], cwd: string, forwardSignals: boolean): Promise<{ code: number; signal?: string; error?: string }> {
  return new Promise((done) => {
    const { spawn } = process.getBuiltinModule('node:child_process'); // see cleanup.ts: not on a hit's path
    const child = spawn(command[0]!, command.slice(1), { cwd, stdio: 'inherit' });
    const forward = (sig: NodeJS.Signals) => child.kill(sig);
    if (forwardSignals) for (const s of FORWARDED) process.on(s, forward);
    let settled = false;
    const finish = (r: { code: number; signal?: string; error?: string }) => {
      if (settled) return; // 'error' can follow 'exit' when forwarding a signal fails
      settled = true;
      if (forwardSignals) for (const s of FORWARDED) process.off(s, forward);
      done(r);
    };
    child.on('error', (e: NodeJS.ErrnoException) => {
      // as a shell reports it: 127 not found, 126 not executable
      finish({ code: e.code === 'ENOENT' ? 127 : 126, error: `cannot run ${command[0]}: ${e.code === 'ENOENT' ? 'command not found' : e.message}` });
    });
    child.on('exit', (code, signal) => {
      if (signal) finish({ code: 128 + (constants.signals[signal] ?? 0), signal });
      else finish({ code: code ?? 0 });
    });
  });
}
