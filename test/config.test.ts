import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CONFIG_FILE,
  REPO_FILE,
  parseConfigPy,
  parseRepoFile,
  readCacheConfig,
  readRepoFile,
  renderConfigPy,
  resolveSettings,
  templatePath,
  type CacheConfig,
} from '../src/config.js';
import { ConfigError } from '../src/errors.js';
import { SizeError } from '../src/size.js';

const F = '/c/LMAKE/config.py';
const GiB = 1024 ** 3;
const TiB = 1024 ** 4;
const DEFAULTS = { perm: 'none', file_sync: 'dir', lock_stale: 30_000, lock_timeout: 120_000 };
const SIZE_FORMS =
  "use bytes (e.g. 1073741824) or a number with a unit k, M, G, T (powers of 1024), e.g. '1.5T' or '500GiB'";
const TIME_FIX = "use a number of seconds above 0 (e.g. 30) or a duration such as '45s' or '2m'";
const LINE_FIX = "write one setting per line as name = value, e.g. size = '100G'";

/** The error parseConfigPy throws for `text`, which must throw. */
function configError(text: string, file = F): ConfigError {
  try {
    parseConfigPy(text, file);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error(`no error for ${JSON.stringify(text)}`);
}

describe('parseConfigPy', () => {
  it('reads every key', () => {
    const text = [
      "size = '1.5T'",
      "perm = 'group'",
      "file_sync = 'sync'",
      'lock_stale = 45',
      'lock_timeout = 600',
    ].join('\n');
    expect(parseConfigPy(text, F)).toEqual<CacheConfig>({
      size: 1.5 * TiB,
      perm: 'group',
      file_sync: 'sync',
      lock_stale: 45_000,
      lock_timeout: 600_000,
    });
  });

  it('fills in the defaults for everything but size', () => {
    expect(parseConfigPy("size = '1G'\n", F)).toEqual({ size: GiB, ...DEFAULTS });
  });

  it.each([
    ["'1.5T'", 1.5 * TiB],
    ['"1.5T"', 1.5 * TiB],
    ["'1T'", TiB],
    ["'512M'", 512 * 1024 ** 2],
    ["'500GiB'", 500 * GiB],
    ["'500GB'", 500 * GiB],
    ["'10kB'", 10 * 1024],
    ["'10 KiB'", 10 * 1024],
    ["'1073741824'", GiB],
    ['1073741824', GiB],
    ['1_073_741_824', GiB],
    ['1 << 30', GiB],
    ['1<<30', GiB],
    ['1.5*1024**4', 1.5 * TiB],
    ['1.5 * 1024 ** 4', 1.5 * TiB],
    ['2 ** 30', GiB],
    ['1024 * 1024 * 1024', GiB],
    ['(1 + 1) * 1024**3', 2 * GiB],
    ['1 << 20 + 10', GiB], // + binds tighter than <<, as in Python
    ['2 * 2 ** 3 ** 2', 1024], // ** is right-associative: 2 * 2**9
    ['-(-1024)', 1024],
    ['+1024', 1024],
    ['1e9', 1e9],
    ['1024.0', 1024],
    ['3*2**10*1_024**2', 3 * GiB],
  ])('size = %s is %d bytes', (expr, n) => {
    expect(parseConfigPy(`size = ${expr}`, F).size).toBe(n);
  });

  it.each([
    ["'none'", 'none'],
    ["'group'", 'group'],
    ['"other"', 'other'],
  ])('perm = %s', (expr, perm) => {
    expect(parseConfigPy(`size = 1 << 30\nperm = ${expr}`, F).perm).toBe(perm);
  });

  it.each([
    ["'none'", 'none'],
    ["'dir'", 'dir'],
    ["'sync'", 'sync'],
  ])('file_sync = %s', (expr, fileSync) => {
    expect(parseConfigPy(`size = 1 << 30\nfile_sync = ${expr}`, F).file_sync).toBe(fileSync);
  });

  it.each([
    ['30', 30_000],
    ['1.5', 1500],
    ['0.001', 1],
    ['2 * 60', 120_000],
    ["'45s'", 45_000],
    ["'2m'", 120_000],
    ["'500ms'", 500],
    ["'1h'", 3_600_000],
    ["'90'", 90_000],
  ])('lock_stale and lock_timeout = %s are %d ms', (expr, ms) => {
    const cfg = parseConfigPy(`size = '1G'\nlock_stale = ${expr}\nlock_timeout = ${expr}`, F);
    expect(cfg.lock_stale).toBe(ms);
    expect(cfg.lock_timeout).toBe(ms);
  });

  it('skips comments and blank lines, including a # inside a string', () => {
    const text = [
      '# dircache cache configuration',
      '',
      "size = '2G'   # two gibibytes",
      '   ',
      '    # an indented comment',
      "perm = 'group'# no space before the comment",
      'file_sync = "dir" # "quoted" # twice',
      'lock_stale = 40#',
    ].join('\n');
    expect(parseConfigPy(text, F)).toEqual({ ...DEFAULTS, size: 2 * GiB, perm: 'group', lock_stale: 40_000 });
    // The # belongs to the string, so the value really is 'gr#oup' (and is refused as such).
    expect(configError("size = '1G'\nperm = 'gr#oup' # note").message).toBe(
      `${F}:2: perm = 'gr#oup' is not allowed; use 'none', 'group' or 'other'`,
    );
    expect(configError("size = '1G#'").message).toBe(`${F}:1: bad size '1G#': ${SIZE_FORMS}`);
  });

  it('reads CRLF files, a BOM and escapes in strings', () => {
    expect(parseConfigPy("\uFEFFsize = '1G'\r\nperm = 'group'\r\n", F)).toEqual({ ...DEFAULTS, size: GiB, perm: 'group' });
    expect(configError("size = '1G'\r\nperm = 'it\\'s'\r\n").message).toBe(
      `${F}:2: perm = 'it\\'s' is not allowed; use 'none', 'group' or 'other'`,
    );
  });

  describe('refuses, naming the file, the line and the fix', () => {
    it.each([
      ["sise = '1G'", `unknown key 'sise'; known keys: size, perm, file_sync, lock_stale, lock_timeout`],
      ['cache = 1', `unknown key 'cache'; known keys: size, perm, file_sync, lock_stale, lock_timeout`],
      ["perm = 'world'", `perm = 'world' is not allowed; use 'none', 'group' or 'other'`],
      ['perm = "world"', `perm = "world" is not allowed; use 'none', 'group' or 'other'`],
      ["perm = 'Group'", `perm = 'Group' is not allowed; use 'none', 'group' or 'other'`],
      ["perm = ''", `perm = '' is not allowed; use 'none', 'group' or 'other'`],
      ['perm = 1', `perm = 1 is not allowed; use 'none', 'group' or 'other'`],
      ["file_sync = 'fsync'", `file_sync = 'fsync' is not allowed; use 'none', 'dir' or 'sync'`],
      ['file_sync = 0', `file_sync = 0 is not allowed; use 'none', 'dir' or 'sync'`],
      ['lock_stale = 0', `lock_stale = 0 is not allowed; ${TIME_FIX}`],
      ['lock_stale = -30', `lock_stale = -30 is not allowed; ${TIME_FIX}`],
      ["lock_stale = '0s'", `lock_stale = '0s' is not allowed; ${TIME_FIX}`],
      ["lock_stale = '1w'", `lock_stale = '1w' is not allowed; ${TIME_FIX}`],
      ["lock_stale = 'soon'", `lock_stale = 'soon' is not allowed; ${TIME_FIX}`],
      ['lock_stale = 1e-9', `lock_stale = 1e-9 is not allowed; ${TIME_FIX}`],
      ['lock_timeout = 0.0', `lock_timeout = 0.0 is not allowed; ${TIME_FIX}`],
      ["lock_timeout = '-2m'", `lock_timeout = '-2m' is not allowed; ${TIME_FIX}`],
      ['size = 1.5T', `syntax error: '1.5T' is not a number; quote sizes and durations that have a unit: '1.5T'`],
      ['size = 1_', `syntax error: '1_' is not a number; group digits with single underscores, e.g. 1_000`],
      ['size = 1__0', `syntax error: '1__0' is not a number; group digits with single underscores, e.g. 1_000`],
      ["size = '1G", `syntax error: unterminated string; close it with '`],
      ['size = "1G', `syntax error: unterminated string; close it with "`],
      ['size == 1', `syntax error: unexpected '='; ${LINE_FIX}`],
      ['size: 1', `syntax error: unexpected ':'; ${LINE_FIX}`],
      ["perm = 'group';", `syntax error: unexpected ';'; ${LINE_FIX}`],
      ['  size = 1', 'syntax error: unexpected indentation; start each setting at the beginning of its line'],
      ['size = GiB', `syntax error: unexpected name 'GiB'; values are numbers or quoted strings, e.g. '100G'`],
      ["size = r'1G'", `syntax error: unexpected name 'r'; values are numbers or quoted strings, e.g. '100G'`],
      ['size = (1 << 30', `syntax error: expected ')' at the end of the line; ${LINE_FIX}`],
      ['size = (1 << 30))', `syntax error: unexpected ')' after the value; ${LINE_FIX}`],
      ['size = ()', `syntax error: unexpected ')'; ${LINE_FIX}`],
      ['size = 1 2', `syntax error: unexpected '2' after the value; ${LINE_FIX}`],
      ['size = 1 +', `syntax error: expected a value at the end of the line; ${LINE_FIX}`],
      ['size =', `syntax error: no value after 'size ='; e.g. size = '100G'`],
      ['perm =   # later', `syntax error: no value after 'perm ='; e.g. perm = the default in the comment above it`],
      ['size', `syntax error: expected '=' after 'size'; ${LINE_FIX}`],
      ['import os', `syntax error: expected '=' after 'import', found 'os'; ${LINE_FIX}`],
      ['= 1', `syntax error: unexpected '=' at the start of the line; ${LINE_FIX}`],
      ['size = 1 / 2', `syntax error: unexpected '/'; ${LINE_FIX}`],
      ["size = 'a' + 'b'", `'+' works on numbers only; write a string in one piece, e.g. '1.5T'`],
      ["size = '1' + 1", `'+' works on numbers only; write a string in one piece, e.g. '1.5T'`],
      ["size = 'a' * 2", `'*' works on numbers only; write a string in one piece, e.g. '1.5T'`],
      ["size = -'1G'", `'-' works on numbers only; write a string in one piece, e.g. '1.5T'`],
      ['size = 1.5 << 2', `'<<' works on integers only; e.g. 1 << 30`],
      ['size = 1 << -1', 'negative shift count; e.g. 1 << 30'],
      ['size = 2**10**9', 'number too large; check the arithmetic'],
      ['size = 1 << 100000', 'number too large; check the arithmetic'],
      ['size = 0 ** -1', '0 cannot be raised to a negative power; check the arithmetic'],
      ['size = 1e308 * 10', 'number out of range; check the arithmetic'],
    ])('%s', (line, message) => {
      const err = configError(`# header\n\n${line}\n`);
      expect(err.message).toBe(`${F}:3: ${message}`);
      expect(err.code).toBe('ECONFIG');
      expect(err.exitCode).toBe(4);
    });

    it.each([
      ["'1.5X'", `bad size '1.5X': ${SIZE_FORMS}`],
      ["'12 parsecs'", `bad size '12 parsecs': ${SIZE_FORMS}`],
      ["''", `bad size '': ${SIZE_FORMS}`],
      ["'-1G'", `bad size '-1G': ${SIZE_FORMS}`],
      ['0', `bad size '0': a cache needs more than 0 bytes; ${SIZE_FORMS}`],
      ["'0G'", `bad size '0G': a cache needs more than 0 bytes; ${SIZE_FORMS}`],
      ['-1', `bad size '-1': a cache needs more than 0 bytes; ${SIZE_FORMS}`],
      ['-2**2', `bad size '-2**2': a cache needs more than 0 bytes; ${SIZE_FORMS}`],
      ['1.5', `bad size '1.5': a number without a unit is bytes, so it must be whole; ${SIZE_FORMS}`],
      ["'1.5'", `bad size '1.5': a number without a unit is bytes, so it must be whole; ${SIZE_FORMS}`],
      ['2 ** -1', `bad size '2 ** -1': a number without a unit is bytes, so it must be whole; ${SIZE_FORMS}`],
      ['10**400', `bad size '10**400': more than 8192 TB is not supported; ${SIZE_FORMS}`],
      ['1 << 60', `bad size '1 << 60': more than 8192 TB is not supported; ${SIZE_FORMS}`],
    ])('size = %s', (expr, message) => {
      const err = configError(`# header\n\nsize = ${expr}\n`);
      expect(err).toBeInstanceOf(SizeError);
      expect(err.code).toBe('EBADSIZE');
      expect(err.message).toBe(`${F}:3: ${message}`);
    });

    it('a duplicate key, with both lines', () => {
      const err = configError("size = '1G'\nperm = 'group'\n\nperm = 'other'\n");
      expect(err.message).toBe(`${F}:4: perm is set twice (also on line 2); keep one of them`);
    });

    it('a missing size, without a line', () => {
      expect(configError("perm = 'group'\n").message).toBe(`${F}: size is required, e.g. size = '100G'`);
      expect(configError('').message).toBe(`${F}: size is required, e.g. size = '100G'`);
      expect(configError('# size = 1\n').message).toBe(`${F}: size is required, e.g. size = '100G'`);
    });

    it('the first bad line of several', () => {
      expect(configError("perm = 'x'\nsize = 'y'\n").message).toMatch(new RegExp(`^${F}:1: perm = 'x'`));
    });
  });
});

describe('the template and renderConfigPy', () => {
  const template = fs.readFileSync(templatePath(), 'utf8');

  it('documents every setting with its default', () => {
    for (const [key, dflt] of [
      ['size', 'required'],
      ['perm', "default 'none'"],
      ['file_sync', "default 'dir'"],
      ['lock_stale', 'default 30'],
      ['lock_timeout', 'default 120'],
    ]) {
      expect(template).toMatch(new RegExp(`^# ${key} \\(${dflt}[,)]`, 'm'));
      expect(template).toMatch(new RegExp(`^${key} = '?\\{\\{${key}\\}\\}'?$`, 'm'));
    }
  });

  it.each([
    [{ size: '1.5T', perm: 'group', file_sync: 'sync', lock_stale: 45_000, lock_timeout: 600_000 } as const, 1.5 * TiB],
    [{ size: 1073741824, perm: 'none', file_sync: 'dir' } as const, GiB],
    [{ size: '500GiB', perm: 'other', file_sync: 'none', lock_stale: 1500, lock_timeout: 1 } as const, 500 * GiB],
    [{ size: ' 10 KiB ', perm: 'none', file_sync: 'dir', lock_stale: 30_000 } as const, 10 * 1024],
  ])('round-trips %j', (cfg, size) => {
    const text = renderConfigPy(template, cfg);
    expect(text).not.toContain('{{');
    expect(parseConfigPy(text, F)).toEqual({
      size,
      perm: cfg.perm,
      file_sync: cfg.file_sync,
      lock_stale: 'lock_stale' in cfg ? cfg.lock_stale : 30_000,
      lock_timeout: 'lock_timeout' in cfg ? cfg.lock_timeout : 120_000,
    });
  });

  it('keeps the admin spelling of the size and writes times in seconds', () => {
    const text = renderConfigPy(template, { size: '1.5T', perm: 'group', file_sync: 'dir', lock_stale: 45_500 });
    expect(text).toMatch(/^size = '1.5T'$/m);
    expect(text).toMatch(/^perm = 'group'$/m);
    expect(text).toMatch(/^file_sync = 'dir'$/m);
    expect(text).toMatch(/^lock_stale = 45.5$/m);
    expect(text).toMatch(/^lock_timeout = 120$/m);
  });

  const python = spawnSync('python3', ['-c', 'pass']).status === 0;
  it.skipIf(!python)('renders a file Python reads to the same values', () => {
    const text = renderConfigPy(template, { size: '2G', perm: 'other', file_sync: 'sync', lock_stale: 2500 });
    const run = spawnSync(
      'python3',
      ['-c', 'import sys, json; ns = {}; exec(sys.stdin.read(), ns); ns.pop("__builtins__"); print(json.dumps(ns))'],
      { input: text, encoding: 'utf8' },
    );
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual({
      size: '2G', perm: 'other', file_sync: 'sync', lock_stale: 2.5, lock_timeout: 120,
    });
  });

  it('refuses bad values instead of writing a config clients would refuse', () => {
    const base = { size: '1G', perm: 'none', file_sync: 'dir' } as const;
    expect(() => renderConfigPy(template, { ...base, size: '1.5X' })).toThrow(new SizeError(`bad size '1.5X': ${SIZE_FORMS}`));
    expect(() => renderConfigPy(template, { ...base, size: "1G' + 'x" })).toThrow(SizeError);
    expect(() => renderConfigPy(template, { ...base, perm: 'world' as never })).toThrow(
      new ConfigError(`perm 'world' is not allowed; use 'none', 'group' or 'other'`),
    );
    expect(() => renderConfigPy(template, { ...base, file_sync: 'fsync' as never })).toThrow(
      new ConfigError(`file_sync 'fsync' is not allowed; use 'none', 'dir' or 'sync'`),
    );
    expect(() => renderConfigPy(template, { ...base, lock_stale: 0 })).toThrow(
      new ConfigError(`lock_stale 0 ms is not allowed; ${TIME_FIX}`),
    );
    expect(() => renderConfigPy(template, { ...base, lock_timeout: NaN })).toThrow(ConfigError);
    expect(() => renderConfigPy('size = {{size}}\nx = {{nope}}\n', base)).toThrow(
      'config template has an unknown placeholder {{nope}}; known: size, perm, file_sync, lock_stale, lock_timeout',
    );
  });
});

describe('parseRepoFile', () => {
  const file = '/repo/sub/.dircache.json';

  it('reads every key and resolves a relative cache against the file dir', () => {
    expect(parseRepoFile('{"cache": "../caches/c", "perm": "group", "file_sync": "sync", "repo_key": "main"}', file)).toEqual({
      cache: '/repo/caches/c',
      perm: 'group',
      file_sync: 'sync',
      repo_key: 'main',
    });
    expect(parseRepoFile('{"cache": "/mnt/cache"}', file)).toEqual({ cache: '/mnt/cache' });
    expect(parseRepoFile('{}', file)).toEqual({});
  });

  it.each([
    ['{"perm": "world"}', `${file}: perm = "world" is not allowed; use 'none', 'group' or 'other'`],
    ['{"perm": 1}', `${file}: perm = 1 is not allowed; use 'none', 'group' or 'other'`],
    ['{"file_sync": "fsync"}', `${file}: file_sync = "fsync" is not allowed; use 'none', 'dir' or 'sync'`],
    ['{"cache": ""}', `${file}: cache = "" is not allowed; give the path of the cache dir, e.g. "/mnt/cache"`],
    ['{"cache": 3}', `${file}: cache = 3 is not allowed; give the path of the cache dir, e.g. "/mnt/cache"`],
    ['{"repo_key": null}', `${file}: repo_key = null is not allowed; give a non-empty string`],
    ['{"cahce": "/c"}', `${file}: unknown key 'cahce'; known keys: cache, perm, file_sync, repo_key`],
    ['{"size": "1T"}', `${file}: size cannot be set per repo; it is set by the cache admin in LMAKE/config.py`],
    ['["perm"]', `${file}: not a JSON object; write an object such as {"cache": "/mnt/cache", "perm": "group"}`],
    ['null', `${file}: not a JSON object; write an object such as {"cache": "/mnt/cache", "perm": "group"}`],
  ])('refuses %s', (text, message) => {
    expect(() => parseRepoFile(text, file)).toThrow(new ConfigError(message));
  });

  it('refuses invalid JSON, naming the file', () => {
    expect(() => parseRepoFile('{"perm": "group",}', file)).toThrow(
      new RegExp(`^${file}: not valid JSON \\(.+\\); write an object such as \\{"cache": "/mnt/cache", "perm": "group"\\}$`),
    );
  });
});

describe('resolveSettings', () => {
  const cacheConfig: CacheConfig = { size: GiB, perm: 'other', file_sync: 'none', lock_stale: 30_000, lock_timeout: 120_000 };
  const repoFile = {
    file: '/repo/.dircache.json',
    values: { cache: '/repo-cache', perm: 'group', file_sync: 'sync', repo_key: 'repo-key' } as const,
  };
  const env = {
    DIRCACHE_DIR: '/env-cache',
    DIRCACHE_PERM: 'none',
    DIRCACHE_FILE_SYNC: 'dir',
    DIRCACHE_REPO_KEY: 'env-key',
    HOME: '/home/x',
  };
  const flags = { cache: '/flag-cache', perm: 'other', file_sync: 'none', repo_key: 'flag-key' } as const;

  it('takes each setting from the first layer that has it: flag > env > repo file > config.py > default', () => {
    expect(resolveSettings({ flags, env, repoFile, cacheConfig })).toEqual({
      values: flags,
      sources: { cache: 'flag', perm: 'flag', file_sync: 'flag', repo_key: 'flag' },
    });
    expect(resolveSettings({ flags: {}, env, repoFile, cacheConfig })).toEqual({
      values: { cache: '/env-cache', perm: 'none', file_sync: 'dir', repo_key: 'env-key' },
      sources: { cache: 'env', perm: 'env', file_sync: 'env', repo_key: 'env' },
    });
    expect(resolveSettings({ flags: {}, env: {}, repoFile, cacheConfig })).toEqual({
      values: repoFile.values,
      sources: { cache: 'repo file', perm: 'repo file', file_sync: 'repo file', repo_key: 'repo file' },
    });
    expect(resolveSettings({ flags: {}, env: {}, cacheConfig })).toEqual({
      values: { perm: 'other', file_sync: 'none' },
      sources: { cache: 'default', perm: 'config.py', file_sync: 'config.py', repo_key: 'default' },
    });
    expect(resolveSettings({ flags: {}, env: {} })).toEqual({
      values: { perm: 'none', file_sync: 'dir' },
      sources: { cache: 'default', perm: 'default', file_sync: 'default', repo_key: 'default' },
    });
  });

  it('mixes layers key by key', () => {
    const r = resolveSettings({
      flags: { file_sync: 'sync', perm: undefined },
      env: { DIRCACHE_DIR: '/env-cache', DIRCACHE_PERM: '' },
      repoFile: { file: '/repo/.dircache.json', values: { repo_key: 'k' } },
      cacheConfig: { ...cacheConfig, perm: 'group' },
    });
    expect(r).toEqual({
      values: { cache: '/env-cache', perm: 'group', file_sync: 'sync', repo_key: 'k' },
      sources: { cache: 'env', perm: 'config.py', file_sync: 'flag', repo_key: 'repo file' },
    });
  });

  it('makes a relative cache from a flag or env absolute against the working dir', () => {
    expect(resolveSettings({ flags: { cache: 'c' }, env: {} }).values.cache).toBe(path.resolve('c'));
    expect(resolveSettings({ flags: {}, env: { DIRCACHE_DIR: '../c' } }).values.cache).toBe(path.resolve('../c'));
  });

  it.each([
    [{ DIRCACHE_PERM: 'world' }, `DIRCACHE_PERM="world" is not allowed; use 'none', 'group' or 'other'`],
    [{ DIRCACHE_FILE_SYNC: 'always' }, `DIRCACHE_FILE_SYNC="always" is not allowed; use 'none', 'dir' or 'sync'`],
  ])('refuses a bad env var %j, even when a flag overrides it', (badEnv, message) => {
    expect(() => resolveSettings({ flags: {}, env: badEnv })).toThrow(new ConfigError(message));
    expect(() => resolveSettings({ flags: { perm: 'group', file_sync: 'dir' }, env: badEnv })).toThrow(new ConfigError(message));
  });

  it('refuses a bad flag', () => {
    expect(() => resolveSettings({ flags: { file_sync: 'fsync' as never }, env: {} })).toThrow(
      new ConfigError(`--file-sync "fsync" is not allowed; use 'none', 'dir' or 'sync'`),
    );
    expect(() => resolveSettings({ flags: { repo_key: '' }, env: {} })).toThrow(
      new ConfigError(`--repo-key "" is not allowed; give a non-empty string`),
    );
  });
});

describe('on disk', () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'dircache-config-'));
  });
  afterEach(() => {
    fs.rmSync(root, { recursive: true, force: true });
  });

  /** Every file and dir under `dir` with its mode, mtime and content. */
  function snapshot(dir: string): Record<string, string> {
    const out: Record<string, string> = {};
    const walk = (d: string) => {
      for (const name of fs.readdirSync(d).sort()) {
        const p = path.join(d, name);
        const st = fs.lstatSync(p);
        const rel = path.relative(dir, p);
        if (st.isDirectory()) {
          out[rel + '/'] = `${st.mode} ${st.mtimeMs}`;
          walk(p);
        } else out[rel] = `${st.mode} ${st.mtimeMs} ${fs.readFileSync(p).toString('base64')}`;
      }
    };
    walk(dir);
    return out;
  }

  const writeConfig = (text: string) => {
    fs.mkdirSync(path.join(root, 'LMAKE'), { recursive: true });
    fs.writeFileSync(path.join(root, CONFIG_FILE), text);
  };

  it('reads LMAKE/config.py', () => {
    writeConfig("size = '3G'\nfile_sync = 'sync'\nlock_timeout = '5m'\n");
    expect(readCacheConfig(root)).toEqual({ ...DEFAULTS, size: 3 * GiB, file_sync: 'sync', lock_timeout: 300_000 });
  });

  it('reads a config rendered from the real template', () => {
    const text = renderConfigPy(fs.readFileSync(templatePath(), 'utf8'), { size: '1.5T', perm: 'group', file_sync: 'dir' });
    writeConfig(text);
    expect(readCacheConfig(root)).toEqual({ ...DEFAULTS, size: 1.5 * TiB, perm: 'group' });
  });

  it.each([
    ['an empty dir', () => {}],
    ['a dir with an empty LMAKE/', (r: string) => fs.mkdirSync(path.join(r, 'LMAKE'))],
  ])('says how to make a cache when given %s', (_, prepare) => {
    prepare(root);
    let err: unknown;
    try { readCacheConfig(root); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe('ENOTCACHE');
    expect((err as ConfigError).message).toBe(
      `${root} is not a dircache cache (no LMAKE/config.py); create one with: dircache init ${root} --size SIZE`,
    );
  });

  it('says the same for a root that does not exist or is a file', () => {
    const missing = path.join(root, 'nope');
    expect(() => readCacheConfig(missing)).toThrow(
      `${missing} is not a dircache cache (no LMAKE/config.py); create one with: dircache init ${missing} --size SIZE`,
    );
    const file = path.join(root, 'file');
    fs.writeFileSync(file, '');
    expect(() => readCacheConfig(file)).toThrow(`${file} is not a dircache cache`);
  });

  it('reports a bad file with its path and line, and changes nothing', () => {
    writeConfig("# comment\nsize = '1T'\nperm = 'world'\n");
    fs.mkdirSync(path.join(root, 'LMAKE', 'shards', '0'), { recursive: true });
    fs.writeFileSync(path.join(root, 'LMAKE', 'version'), 'x');
    const before = snapshot(root);
    expect(Object.keys(before)).toEqual(['LMAKE/', 'LMAKE/config.py', 'LMAKE/shards/', 'LMAKE/shards/0/', 'LMAKE/version']);
    expect(() => readCacheConfig(root)).toThrow(
      new ConfigError(`${path.join(root, CONFIG_FILE)}:3: perm = 'world' is not allowed; use 'none', 'group' or 'other'`),
    );
    expect(() => readCacheConfig(root)).toThrow(ConfigError);
    expect(snapshot(root)).toEqual(before);
  });

  it('reports an unreadable config as a PermissionError naming the file (as a real unprivileged user)', () => {
    writeConfig("size = '1G'\n");
    const file = path.join(root, CONFIG_FILE);
    fs.chmodSync(file, 0o600);
    fs.chmodSync(root, 0o755);
    const script = `import('${path.resolve('dist/config.js')}').then(m => { try { m.readCacheConfig(${JSON.stringify(root)}); console.log('read'); } catch (e) { console.log(e.name + ': ' + e.message); } })`;
    const asRoot = process.getuid?.() === 0;
    const r = spawnSync(asRoot ? 'setpriv' : process.execPath, asRoot ? ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', script] : ['-e', script], { encoding: 'utf8' });
    expect(r.stdout.trim()).toBe(
      `PermissionError: cannot read ${file}: permission denied; ask the cache's admin for read access (dircache init --perm group makes a cache its group can use)`,
    );
  });

  it('reads the repo file, or nothing when there is none', () => {
    expect(readRepoFile(root)).toBeUndefined();
    fs.writeFileSync(path.join(root, REPO_FILE), '{"cache": "shared", "perm": "group"}');
    expect(readRepoFile(root)).toEqual({
      file: path.join(root, REPO_FILE),
      values: { cache: path.join(root, 'shared'), perm: 'group' },
    });
    fs.writeFileSync(path.join(root, REPO_FILE), '{"perm": "all"}');
    expect(() => readRepoFile(root)).toThrow(
      new ConfigError(`${path.join(root, REPO_FILE)}: perm = "all" is not allowed; use 'none', 'group' or 'other'`),
    );
  });

  it('finds the template next to src/ and dist/', () => {
    expect(templatePath()).toBe(fileURLToPath(new URL('../LMAKE-template/config.py', import.meta.url)));
    expect(fs.existsSync(templatePath())).toBe(true);
  });
});
