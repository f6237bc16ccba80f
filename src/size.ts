import bytes from 'bytes';
import { ConfigError } from './errors.js';

/** A size that is not a positive number of bytes in one of the forms parseSize accepts. */
export class SizeError extends ConfigError {
  constructor(message: string) {
    super(message, 'EBADSIZE');
  }
}

/** A duration that is not in one of the forms parseDuration accepts. */
export class DurationError extends ConfigError {
  constructor(message: string) {
    super(message, 'EBADDURATION');
  }
}

const SIZE_FORMS =
  "use bytes (e.g. 1073741824) or a number with a unit k, M, G, T (powers of 1024), e.g. '1.5T' or '500GiB'";

// Every spelling means a power of 1024, as in lmake: admins write '500G' meaning GiB, and a cache
// size is a budget, not a disk label, so accepting the SI look-alikes as binary surprises no one.
const UNIT_SHIFT: Record<string, number> = {
  '': 0, b: 0,
  k: 10, kb: 10, kib: 10,
  m: 20, mb: 20, mib: 20,
  g: 30, gb: 30, gib: 30,
  t: 40, tb: 40, tib: 40,
};

/**
 * Bytes from `1073741824`, `'1.5T'`, `'500GiB'`, `'10 kB'`, ... (units are powers of 1024 whatever
 * the spelling; the result is rounded down). Not bytes.parse: it reads '1.5T' as 1.
 * `shown` is the value as the user wrote it, for the message (e.g. an expression from config.py).
 */
export function parseSize(value: string | number, shown = String(value)): number {
  const bad = (why?: string) =>
    new SizeError(`bad size '${shown}': ${why ? `${why}; ` : ''}${SIZE_FORMS}`);

  let n: number;
  if (typeof value === 'number') {
    if (Number.isNaN(value)) throw bad();
    if (Number.isFinite(value) && !Number.isInteger(value)) throw bad('a number without a unit is bytes, so it must be whole');
    n = value;
  } else {
    const m = /^\s*(\d+(?:\.\d+)?|\.\d+)[ \t]*([A-Za-z]*)\s*$/.exec(value);
    const shift = m ? UNIT_SHIFT[m[2].toLowerCase()] : undefined;
    if (!m || shift === undefined) throw bad();
    if (shift === 0 && m[1].includes('.')) throw bad('a number without a unit is bytes, so it must be whole');
    n = Math.floor(Number(m[1]) * 2 ** shift);
  }
  if (n <= 0) throw bad('a cache needs more than 0 bytes');
  if (!Number.isSafeInteger(n)) throw bad(`more than ${formatSize(Number.MAX_SAFE_INTEGER)} is not supported`);
  return n;
}

/**
 * Human-readable size, e.g. '1.5 TB'. Units are the `bytes` package's KB, MB, GB, TB, meaning powers
 * of 1024 as everywhere in dircache; capped at TB so the text always parses back with parseSize.
 */
export function formatSize(n: number): string {
  const text = bytes.format(n, { unitSeparator: ' ', unit: Math.abs(n) >= 2 ** 50 ? 'TB' : undefined });
  return text ?? String(n);
}

const DURATION_FORMS =
  "use a number of seconds (e.g. 30) or a number with a unit ms, s, m, h, d, e.g. '500ms', '45s', '15m', '12h' or '30d'";

const UNIT_MS: Record<string, number> = {
  '': 1000, ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000,
};

/**
 * Milliseconds from '30d', '12h', '15m', '45s', '500ms' or a plain number of seconds. 0 is accepted
 * (`gc --older-than 0` means everything); callers that need a positive time check it.
 */
export function parseDuration(text: string): number {
  // Units are case-sensitive on purpose: 'M' could be read as months and 'D' is nobody's spelling.
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)[ \t]*(ms|s|m|h|d|)\s*$/.exec(text);
  const ms = m ? Math.round(Number(m[1]) * UNIT_MS[m[2]]) : NaN;
  if (!Number.isSafeInteger(ms)) throw new DurationError(`bad duration '${text}': ${DURATION_FORMS}`);
  return ms;
}
