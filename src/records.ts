/**
 * The LRU's small on-disk records. Pure encode/decode.
 *
 * Records are rewritten in place, padded with spaces, so a reader stops at the first newline of the
 * JSON and ignores whatever an older, longer record left behind.
 */
import { CorruptEntryError } from './errors.js';

/** A shard's LRU head: both ends of its list and the bytes its entries and reservations hold. */
export interface Head {
  newest: string | null;
  oldest: string | null;
  total: number;
  entries: number;
}

/** An entry's place in its shard's list. `placed` is when it got there; `access` its last hit. */
export interface EntryLru {
  newer: string | null;
  older: string | null;
  size: number;
  placed: number;
  access: number;
}

/** An upload in flight: bytes held in the head total until it commits or is rolled back. */
export interface Reservation {
  token: string;
  host: string;
  pid: number;
  bytes: number;
  start: number;
  tmp: string; // its build dir, relative to the root
}

export const EMPTY_HEAD: Head = { newest: null, oldest: null, total: 0, entries: 0 };

export function encodeHead(h: Head): string {
  return JSON.stringify(h) + '\n';
}

export function decodeHead(text: string, where: string): Head {
  const r = parseFirstLine(text, where) as Partial<Head>;
  const okLink = (v: unknown) => v === null || (typeof v === 'string' && v.length > 0);
  if (!okLink(r.newest) || !okLink(r.oldest) || !isCount(r.total) || !isCount(r.entries) || (r.newest === null) !== (r.oldest === null)) {
    throw new CorruptEntryError(`${where}: malformed LRU head; run dircache repair`);
  }
  return { newest: r.newest!, oldest: r.oldest!, total: r.total!, entries: r.entries! };
}

/**
 * The access time sits at a fixed offset on the first line, so a hit updates it with one pwrite of
 * ACCESS_WIDTH bytes, without reading the record first.
 */
export const ACCESS_OFFSET = 'access '.length;
export const ACCESS_WIDTH = 16;

export function encodeAccess(ms: number): string {
  return String(Math.floor(ms)).padStart(ACCESS_WIDTH, '0');
}

export function encodeEntryLru(e: EntryLru): string {
  const { access, ...links } = e;
  return `access ${encodeAccess(access)}\n${JSON.stringify(links)}\n`;
}

export function decodeEntryLru(text: string, where: string): EntryLru {
  const m = /^access (\d{16})\n([^\n]*)\n/.exec(text);
  if (!m) throw new CorruptEntryError(`${where}: malformed LRU record`);
  let r: Partial<EntryLru>;
  try {
    r = JSON.parse(m[2]!) as Partial<EntryLru>;
  } catch {
    throw new CorruptEntryError(`${where}: malformed LRU record`);
  }
  const okLink = (v: unknown) => v === null || typeof v === 'string';
  if (!okLink(r.newer) || !okLink(r.older) || !isCount(r.size) || !isCount(r.placed)) throw new CorruptEntryError(`${where}: malformed LRU record`);
  return { newer: r.newer!, older: r.older!, size: r.size!, placed: r.placed!, access: Number(m[1]) };
}

export function encodeReservation(r: Reservation): string {
  return JSON.stringify(r) + '\n';
}

export function decodeReservation(text: string, where: string): Reservation {
  const r = parseFirstLine(text, where) as Partial<Reservation>;
  if (typeof r.token !== 'string' || typeof r.host !== 'string' || !isCount(r.pid) || !isCount(r.bytes) || !isCount(r.start) || typeof r.tmp !== 'string') {
    throw new CorruptEntryError(`${where}: malformed reservation`);
  }
  return r as Reservation;
}

function parseFirstLine(text: string, where: string): unknown {
  const nl = text.indexOf('\n');
  try {
    return JSON.parse(nl < 0 ? text : text.slice(0, nl)) as unknown;
  } catch {
    throw new CorruptEntryError(`${where}: malformed record`);
  }
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}
