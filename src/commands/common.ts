import type { Argv } from 'yargs';
import { Cache } from '../cache.js';
import { type DircacheClient, openCache } from '../index.js';
import type { FileSync, Perm } from '../config.js';
import { UsageError } from '../errors.js';
import type { OutputFlags } from '../output.js';

export interface ClientArgs extends OutputFlags {
  cache?: string;
  perm?: Perm;
  'file-sync'?: FileSync;
}

/** Options every command takes. */
export const globalOptions = {
  json: { type: 'boolean', describe: 'print one JSON object (for scripts)' },
  quiet: { alias: 'q', type: 'boolean', describe: 'print nothing but errors' },
} as const;

/** Options every command that opens a cache takes. */
export const clientOptionSpec = {
  cache: { type: 'string', describe: 'cache dir (else DIRCACHE_DIR, else "cache" in the repo\'s .dircache.json)' },
  perm: { type: 'string', choices: ['none', 'group', 'other'], describe: "override the cache's perm for files this client creates" },
  'file-sync': { type: 'string', choices: ['none', 'dir', 'sync'], describe: "override the cache's file_sync" },
} as const;

export function clientOptions<T>(y: Argv<T>) {
  return y.options(clientOptionSpec);
}

function optionsFromArgs(a: ClientArgs & { 'repo-key'?: string }) {
  return { cache: a.cache, perm: a.perm, fileSync: a['file-sync'], repoKey: a['repo-key'] };
}

export function openFromArgs(a: ClientArgs & { 'repo-key'?: string }): Cache {
  return Cache.open(optionsFromArgs(a));
}

/** The library client: download, upload and run go through it so the CLI counts stats and honours DIRCACHE_MODE as the API does. */
export function clientFromArgs(a: ClientArgs & { 'repo-key'?: string }, where: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): DircacheClient {
  return openCache({ ...optionsFromArgs(a), ...where });
}

/** `--input KEY=VALUE ...` → a map; values may contain '='. */
export function parseInputs(list: readonly string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list ?? []) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`--input '${item}' must be KEY=VALUE (e.g. --input cc=gcc-12)`, 'EBADINPUT');
    const key = item.slice(0, eq);
    if (key in out && out[key] !== item.slice(eq + 1)) throw new UsageError(`--input ${key} given twice with different values`, 'EBADINPUT');
    out[key] = item.slice(eq + 1);
  }
  return out;
}

export const repoKeyOption = {
  'repo-key': { type: 'string', describe: 'default: "<repo root> <HEAD sha>" (outside git: the cwd)' },
} as const;

export const jobOptions = {
  job: { type: 'string', demandOption: true, describe: 'job name, any string (e.g. obj/foo.o); entries are keyed by it' },
  dep: { type: 'string', array: true, describe: 'a file the job read (relative to cwd, or absolute); may be absent' },
  input: { type: 'string', array: true, describe: 'a non-file value that must match, KEY=VALUE (compiler version, flags)' },
} as const;
