import { describe, expect, it } from 'vitest';
import { ConfigError } from '../src/errors.js';
import { DurationError, SizeError, formatSize, parseDuration, parseSize } from '../src/size.js';

const KiB = 1024;
const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
const TiB = 1024 ** 4;
const FORMS =
  "use bytes (e.g. 1073741824) or a number with a unit k, M, G, T (powers of 1024), e.g. '1.5T' or '500GiB'";

describe('parseSize', () => {
  it.each([
    ['1.5T', 1.5 * TiB],
    ['1T', TiB],
    ['512M', 512 * MiB],
    ['500GiB', 500 * GiB],
    ['500GB', 500 * GiB],
    ['500gb', 500 * GiB],
    ['500G', 500 * GiB],
    ['500g', 500 * GiB],
    ['10kB', 10 * KiB],
    ['10KB', 10 * KiB],
    ['10KiB', 10 * KiB],
    ['10 KiB', 10 * KiB],
    ['10k', 10 * KiB],
    ['10K', 10 * KiB],
    ['3MB', 3 * MiB],
    ['3MiB', 3 * MiB],
    ['3m', 3 * MiB],
    ['2TB', 2 * TiB],
    ['2TiB', 2 * TiB],
    ['2t', 2 * TiB],
    ['100B', 100],
    ['100 b', 100],
    ['1073741824', GiB],
    [' 7G ', 7 * GiB],
    ['.5k', 512],
    ['1.0001k', 1024], // rounded down
    ['1.5t', 1.5 * TiB],
  ])('%s is %d bytes', (text, n) => {
    expect(parseSize(text)).toBe(n);
  });

  it('takes plain integers as bytes', () => {
    expect(parseSize(1073741824)).toBe(GiB);
    expect(parseSize(1 << 30)).toBe(GiB);
    expect(parseSize(1.5 * 1024 ** 4)).toBe(1649267441664);
    expect(parseSize(1)).toBe(1);
  });

  it.each([
    ['1.5X', ''],
    ['12 parsecs', ''],
    ['', ''],
    ['   ', ''],
    ['-1G', ''],
    ['-5', ''],
    ['NaN', ''],
    ['1e9', ''],
    ['1..5G', ''],
    ['G', ''],
    ['1 G B', ''],
    ['1\nG', ''],
    ['1PB', ''],
    ['1.5', 'a number without a unit is bytes, so it must be whole; '],
    ['1.5B', 'a number without a unit is bytes, so it must be whole; '],
    ['0', 'a cache needs more than 0 bytes; '],
    ['0G', 'a cache needs more than 0 bytes; '],
    ['0.0001k', 'a cache needs more than 0 bytes; '],
  ])('rejects %j', (text, why) => {
    expect(() => parseSize(text)).toThrow(new SizeError(`bad size '${text}': ${why}${FORMS}`));
  });

  it.each([
    [0, 'a cache needs more than 0 bytes; '],
    [-1, 'a cache needs more than 0 bytes; '],
    [1.5, 'a number without a unit is bytes, so it must be whole; '],
    [NaN, ''],
    [Infinity, 'more than 8192 TB is not supported; '],
  ])('rejects the number %d', (n, why) => {
    expect(() => parseSize(n)).toThrow(new SizeError(`bad size '${n}': ${why}${FORMS}`));
  });

  it('rejects sizes past what a JS number holds exactly', () => {
    expect(() => parseSize('9999999T')).toThrow(`bad size '9999999T': more than 8192 TB is not supported; ${FORMS}`);
    expect(() => parseSize(2 ** 60)).toThrow(SizeError);
  });

  it('throws a ConfigError with code EBADSIZE', () => {
    let err: unknown;
    try { parseSize('1.5X'); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(SizeError);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as SizeError).code).toBe('EBADSIZE');
    expect((err as SizeError).exitCode).toBe(4);
    expect((err as SizeError).message).toBe(`bad size '1.5X': ${FORMS}`);
  });
});

describe('formatSize', () => {
  it.each([
    [0, '0 B'],
    [100, '100 B'],
    [1024, '1 KB'],
    [1536, '1.5 KB'],
    [512 * MiB, '512 MB'],
    [GiB, '1 GB'],
    [1.5 * TiB, '1.5 TB'],
    [2048 * TiB, '2048 TB'],
  ])('%d is %s', (n, text) => {
    expect(formatSize(n)).toBe(text);
  });

  it('parses back with parseSize (units are powers of 1024 both ways)', () => {
    for (const n of [1, 1000, 1024, 10 * KiB, 3 * MiB, 7 * GiB, 1.5 * TiB, 4096 * TiB]) {
      expect(parseSize(formatSize(n))).toBe(n);
    }
  });
});

describe('parseDuration', () => {
  it.each([
    ['30d', 30 * 86_400_000],
    ['12h', 12 * 3_600_000],
    ['15m', 15 * 60_000],
    ['45s', 45_000],
    ['500ms', 500],
    ['30', 30_000],
    ['1.5', 1500],
    ['1.5h', 5_400_000],
    ['10 s', 10_000],
    ['0', 0],
  ])('%s is %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '1w', '-5s', '5S', '5M', '1h30m', 'soon', 's', '1e3', 'NaN'])('rejects %j', (text) => {
    let err: unknown;
    try { parseDuration(text); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(DurationError);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as DurationError).code).toBe('EBADDURATION');
    expect((err as DurationError).message).toBe(
      `bad duration '${text}': use a number of seconds (e.g. 30) or a number with a unit ms, s, m, h, d, e.g. '500ms', '45s', '15m', '12h' or '30d'`,
    );
  });
});
