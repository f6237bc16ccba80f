import { ConfigError } from './errors.js';
import { FORMAT_VERSION, MAX_SHARDS } from './layout.js';

/** LMAKE/version: the on-disk format version and the shard count, fixed at init. */
export interface VersionInfo {
  format: number;
  shards: number;
}

export function formatVersionFile(v: VersionInfo): string {
  return `format ${v.format}\nshards ${v.shards}\n`;
}

export function parseVersionFile(text: string, file: string): VersionInfo {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const m = /^(\w+) (\S+)$/.exec(line.trim());
    if (!m) throw new ConfigError(`${file}: malformed line '${line}'; expected 'format N' and 'shards N' (run dircache repair if the cache was damaged)`);
    fields.set(m[1]!, m[2]!);
  }
  const format = Number(fields.get('format'));
  const shards = Number(fields.get('shards'));
  if (!Number.isInteger(format)) throw new ConfigError(`${file}: no format version; this is not a dircache cache or it is damaged`);
  if (format !== FORMAT_VERSION) {
    throw new ConfigError(
      `${file}: cache format version ${format}, but this dircache reads version ${FORMAT_VERSION}; use a dircache release of that format or create a new cache with dircache init`,
      'EVERSION',
    );
  }
  if (!Number.isInteger(shards) || shards < 1 || shards > MAX_SHARDS) {
    throw new ConfigError(`${file}: bad shard count '${fields.get('shards')}'; expected an integer 1..${MAX_SHARDS}`);
  }
  return { format, shards };
}
