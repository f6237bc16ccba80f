import { describe, expect, it } from 'vitest';
import { CorruptEntryError } from '../src/errors.js';
import {
  ACCESS_OFFSET, ACCESS_WIDTH, EMPTY_HEAD, type EntryLru, type Head, type Reservation,
  decodeEntryLru, decodeHead, decodeReservation, encodeAccess, encodeEntryLru, encodeHead, encodeReservation,
} from '../src/records.js';

const head: Head = { newest: 'j/key-00000000000000aa-last', oldest: 'i/key-00000000000000bb-first', total: 123456, entries: 7 };
const rec: EntryLru = { newer: 'a/key-00000000000000aa-first', older: null, size: 4096, placed: 1_700_000_000_000, access: 1_700_000_000_123 };
const res: Reservation = { token: 'host-12-abcdef', host: 'host', pid: 12, bytes: 5000, start: 1_700_000_000_000, tmp: 'LMAKE/tmp/host-12-abcdef' };

describe('LRU records', () => {
  it('round-trip', () => {
    expect(decodeHead(encodeHead(head), 'h')).toEqual(head);
    expect(decodeHead(encodeHead(EMPTY_HEAD), 'h')).toEqual(EMPTY_HEAD);
    expect(decodeEntryLru(encodeEntryLru(rec), 'r')).toEqual(rec);
    expect(decodeReservation(encodeReservation(res), 'r')).toEqual(res);
  });

  it('a shorter record written over a longer one in place still reads back (the old tail is ignored)', () => {
    const long = encodeHead({ ...head, total: 99_999_999_999 });
    const short = encodeHead({ ...head, newest: 'x/key-00000000000000aa-last', total: 1 });
    expect(short.length).toBeLessThan(long.length);
    expect(decodeHead(short + long.slice(short.length), 'h')).toEqual({ ...head, newest: 'x/key-00000000000000aa-last', total: 1 });
    const r2 = encodeEntryLru({ ...rec, newer: null, older: null, size: 1 });
    expect(decodeEntryLru(r2 + encodeEntryLru(rec).slice(r2.length), 'r')).toEqual({ ...rec, newer: null, older: null, size: 1 });
  });

  it('the access time sits at a fixed offset: one pwrite of ACCESS_WIDTH bytes updates it', () => {
    const text = encodeEntryLru(rec);
    const at = encodeAccess(1_800_000_000_999);
    expect(at).toHaveLength(ACCESS_WIDTH);
    const patched = text.slice(0, ACCESS_OFFSET) + at + text.slice(ACCESS_OFFSET + ACCESS_WIDTH);
    expect(decodeEntryLru(patched, 'r')).toEqual({ ...rec, access: 1_800_000_000_999 });
  });

  it.each([
    ['', /h: malformed record/],
    ['{"newest":null', /h: malformed record/],
    ['[]\n', /malformed LRU head/],
    ['{"newest":"a","oldest":null,"total":0,"entries":1}\n', /malformed LRU head/], // one end missing
    ['{"newest":null,"oldest":null,"total":-1,"entries":0}\n', /malformed LRU head/],
    ['{"newest":null,"oldest":null,"total":1.5,"entries":0}\n', /malformed LRU head/],
    ['{"newest":"","oldest":"","total":0,"entries":0}\n', /malformed LRU head/],
    ['{"newest":null,"oldest":null,"total":0}\n', /malformed LRU head/],
  ])('refuses the head %j', (text, message) => {
    expect(() => decodeHead(text, 'h')).toThrow(CorruptEntryError);
    expect(() => decodeHead(text, 'h')).toThrow(message);
  });

  it.each([
    '',
    'access 12\n{}\n', // access not at its fixed width
    `access ${'1'.repeat(16)}\n{"newer":null,"older":null,"size":1}\n`, // no placed
    `access ${'1'.repeat(16)}\n{"newer":1,"older":null,"size":1,"placed":0}\n`,
    `access ${'1'.repeat(16)}\n{"newer":null,"older":null,"size":-5,"placed":0}\n`,
    `access ${'1'.repeat(16)}\nnot json\n`,
    `access ${'1'.repeat(16)}\n{"newer":null,"older":null,"size":1,"placed":0}`, // torn: no final newline
  ])('refuses the entry record %j', (text) => {
    expect(() => decodeEntryLru(text, 'e/lru')).toThrow(/e\/lru: malformed LRU record/);
  });

  it('refuses a malformed reservation', () => {
    for (const bad of [{ ...res, token: 1 }, { ...res, bytes: -1 }, { ...res, pid: 'x' }, { ...res, tmp: undefined }]) {
      expect(() => decodeReservation(JSON.stringify(bad) + '\n', 'r')).toThrow(/r: malformed reservation/);
    }
    expect(() => decodeReservation('garbage', 'r')).toThrow(/r: malformed record/);
  });
});
