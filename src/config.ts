import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ConfigError, DircacheError, PermissionError } from './errors.js';
import { SizeError, parseDuration, parseSize } from './size.js';
import { packagePath } from './package-root.js';

export type Perm = 'none' | 'group' | 'other';
export type FileSync = 'none' | 'dir' | 'sync';

export const PERMS: readonly Perm[] = ['none', 'group', 'other'];
export const FILE_SYNCS: readonly FileSync[] = ['none', 'dir', 'sync'];

/** The admin's settings from LMAKE/config.py; times are in milliseconds. */
export interface CacheConfig {
  size: number;
  perm: Perm;
  file_sync: FileSync;
  lock_stale: number;
  lock_timeout: number;
}

export const CONFIG_DEFAULTS: Omit<CacheConfig, 'size'> = {
  perm: 'none',
  file_sync: 'dir',
  lock_stale: 30_000,
  lock_timeout: 120_000,
};

const CONFIG_KEYS = ['size', 'perm', 'file_sync', 'lock_stale', 'lock_timeout'] as const;
type ConfigKey = (typeof CONFIG_KEYS)[number];

const oneOf = (values: readonly string[]) =>
  values.map((v) => `'${v}'`).join(', ').replace(/, ([^,]*)$/, ' or $1');
const PERM_FIX = `use ${oneOf(PERMS)}`;
const FILE_SYNC_FIX = `use ${oneOf(FILE_SYNCS)}`;
const TIME_FIX = "use a number of seconds above 0 (e.g. 30) or a duration such as '45s' or '2m'";
const LINE_FIX = "write one setting per line as name = value, e.g. size = '100G'";

// ---------------------------------------------------------------------------------------------
// config.py: the subset of Python an admin needs (name = number/string expression, comments),
// parsed rather than run so that reading a cache's config never executes anything.

type Value = { t: 'int'; v: bigint } | { t: 'float'; v: number } | { t: 'str'; v: string };
type Token = { k: 'num' | 'str' | 'op' | 'name'; text: string; value?: Value; start: number; end: number };

/** A problem on one line; parseConfigPy adds the file and line number. */
class LineProblem extends Error {
  constructor(readonly what: string, readonly fix = LINE_FIX, readonly code?: string) {
    super(what);
  }
}
const syntax = (detail: string, fix?: string) => new LineProblem(`syntax error: ${detail}`, fix);

const DIGITS = String.raw`\d(?:_?\d)*`;
const EXP = String.raw`(?:[eE][+-]?${DIGITS})`;
const FLOAT = String.raw`${DIGITS}\.(?:${DIGITS})?${EXP}?|\.${DIGITS}${EXP}?|${DIGITS}${EXP}`;
const NUMBER_RE = new RegExp(`(${FLOAT})|(${DIGITS})`, 'y');
const NAME_RE = /[A-Za-z_][A-Za-z0-9_]*/y;
const OP_RE = /\*\*|<<|[*+\-()=]/y;
const ESCAPES: Record<string, string> = { n: '\n', t: '\t', '\\': '\\', "'": "'", '"': '"' };

function tokenize(line: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < line.length) {
    const c = line[i];
    if (c === ' ' || c === '\t') { i++; continue; }
    if (c === '#') break;
    const start = i;
    if (c === "'" || c === '"') {
      let s = '';
      for (i++; i < line.length && line[i] !== c; i++) {
        if (line[i] === '\\' && i + 1 < line.length) {
          i++;
          s += ESCAPES[line[i]] ?? `\\${line[i]}`;
        } else s += line[i];
      }
      if (i >= line.length) throw syntax('unterminated string', `close it with ${c}`);
      i++;
      tokens.push({ k: 'str', text: line.slice(start, i), value: { t: 'str', v: s }, start, end: i });
      continue;
    }
    for (const [k, re] of [['num', NUMBER_RE], ['name', NAME_RE], ['op', OP_RE]] as const) {
      re.lastIndex = i;
      const m = re.exec(line);
      if (!m) continue;
      i = re.lastIndex;
      const text = m[0];
      const token: Token = { k, text, start, end: i };
      if (k === 'num') {
        if (/[A-Za-z0-9_.]/.test(line[i] ?? '')) {
          const word = /^[A-Za-z0-9_.]+/.exec(line.slice(start))![0];
          const fix = /^[\d.]+[A-Za-z]+$/.test(word)
            ? `quote sizes and durations that have a unit: '${word}'`
            : 'group digits with single underscores, e.g. 1_000';
          throw syntax(`'${word}' is not a number`, fix);
        }
        const digits = text.replaceAll('_', '');
        token.value = m[1] ? { t: 'float', v: Number(digits) } : { t: 'int', v: BigInt(digits) };
      }
      tokens.push(token);
      break;
    }
    if (i === start) throw syntax(`unexpected '${c}'`);
  }
  return tokens;
}

// Python would happily compute 2**10**9; a config value never needs more than a few hundred bits.
const MAX_INT_BITS = 4096n;
const tooLarge = () => new LineProblem('number too large', 'check the arithmetic');
function checkInt(v: bigint): Value {
  if ((v < 0n ? -v : v) >> MAX_INT_BITS) throw tooLarge();
  return { t: 'int', v };
}
function toFloat(x: Value): number {
  return x.t === 'int' ? Number(x.v) : x.t === 'float' ? x.v : NaN;
}
function checkFloat(v: number): Value {
  if (!Number.isFinite(v)) throw new LineProblem('number out of range', 'check the arithmetic');
  return { t: 'float', v };
}

function numbers(op: string, a: Value, b: Value): [Exclude<Value, { t: 'str' }>, Exclude<Value, { t: 'str' }>] {
  if (a.t === 'str' || b.t === 'str') {
    throw new LineProblem(`'${op}' works on numbers only`, "write a string in one piece, e.g. '1.5T'");
  }
  return [a, b];
}

function binary(op: string, l: Value, r: Value): Value {
  const [a, b] = numbers(op, l, r);
  if (op === '<<') {
    if (a.t !== 'int' || b.t !== 'int') throw new LineProblem("'<<' works on integers only", 'e.g. 1 << 30');
    if (b.v < 0n) throw new LineProblem('negative shift count', 'e.g. 1 << 30');
    if (a.v !== 0n && b.v > MAX_INT_BITS) throw tooLarge();
    return checkInt(a.v << b.v);
  }
  if (a.t === 'int' && b.t === 'int') {
    if (op === '+') return checkInt(a.v + b.v);
    if (op === '*') return checkInt(a.v * b.v);
    if (b.v >= 0n) {
      // |a| has `bits` bits, so a**b has more than (bits - 1) * b: refuse before computing it.
      const bits = BigInt((a.v < 0n ? -a.v : a.v).toString(2).length);
      if ((bits - 1n) * b.v > MAX_INT_BITS) throw tooLarge();
      return checkInt(a.v ** b.v);
    }
  }
  const x = toFloat(a);
  const y = toFloat(b);
  if (op === '**' && x === 0 && y < 0) throw new LineProblem('0 cannot be raised to a negative power', 'check the arithmetic');
  return checkFloat(op === '+' ? x + y : op === '*' ? x * y : x ** y);
}

/** Evaluates tokens[from..] with Python's precedence: << below + below * below unary - below **. */
function evaluate(tokens: Token[], from: number): Value {
  let pos = from;
  const peek = () => tokens[pos]?.text;
  const expect = (what: string): Token => {
    const t = tokens[pos++];
    if (!t) throw syntax(`expected ${what} at the end of the line`);
    return t;
  };
  const shift = (): Value => {
    let v = sum();
    while (peek() === '<<') { pos++; v = binary('<<', v, sum()); }
    return v;
  };
  const sum = (): Value => {
    let v = term();
    while (peek() === '+') { pos++; v = binary('+', v, term()); }
    return v;
  };
  const term = (): Value => {
    let v = unary();
    while (peek() === '*') { pos++; v = binary('*', v, unary()); }
    return v;
  };
  const unary = (): Value => {
    const op = peek();
    if (op !== '-' && op !== '+') return power();
    pos++;
    const [, v] = numbers(op, { t: 'int', v: 0n }, unary());
    if (op === '+') return v;
    return v.t === 'int' ? checkInt(-v.v) : checkFloat(-v.v);
  };
  const power = (): Value => {
    const base = atom();
    if (peek() !== '**') return base;
    pos++;
    return binary('**', base, unary());
  };
  const atom = (): Value => {
    const t = expect('a value');
    if (t.value) return t.value;
    if (t.text === '(') {
      const v = shift();
      if (expect("')'").text !== ')') throw syntax(`expected ')' before '${tokens[pos - 1].text}'`);
      return v;
    }
    if (t.k === 'name') throw syntax(`unexpected name '${t.text}'`, "values are numbers or quoted strings, e.g. '100G'");
    throw syntax(`unexpected '${t.text}'`);
  };

  const v = shift();
  if (pos < tokens.length) throw syntax(`unexpected '${tokens[pos].text}' after the value`);
  return v;
}

/** Checks one setting's value and converts it to its CacheConfig form. */
function configValue(key: ConfigKey, v: Value, src: string): CacheConfig[ConfigKey] {
  const notAllowed = (fix: string) => new LineProblem(`${key} = ${src} is not allowed`, fix);
  switch (key) {
    case 'size':
      try {
        return v.t === 'str' ? parseSize(v.v) : parseSize(toFloat(v), src);
      } catch (e) {
        if (e instanceof SizeError) throw new LineProblem(e.message, '', e.code);
        throw e;
      }
    case 'perm':
      if (v.t !== 'str' || !PERMS.includes(v.v as Perm)) throw notAllowed(PERM_FIX);
      return v.v as Perm;
    case 'file_sync':
      if (v.t !== 'str' || !FILE_SYNCS.includes(v.v as FileSync)) throw notAllowed(FILE_SYNC_FIX);
      return v.v as FileSync;
    case 'lock_stale':
    case 'lock_timeout': {
      let ms = NaN;
      if (v.t === 'str') {
        try { ms = parseDuration(v.v); } catch { /* reported below with the key and line */ }
      } else ms = Math.round(toFloat(v) * 1000);
      if (!(ms > 0) || !Number.isSafeInteger(ms)) throw notAllowed(TIME_FIX);
      return ms;
    }
  }
}

/** Parses the admin's LMAKE/config.py; errors read `<file>:<line>: <what is wrong>; <fix>`. */
export function parseConfigPy(text: string, file: string): CacheConfig {
  const seen = new Map<string, number>();
  const out: Partial<Record<ConfigKey, unknown>> = {};
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((line, index) => {
    const lineNo = index + 1;
    try {
      const tokens = tokenize(line);
      if (tokens.length === 0) return;
      if (tokens[0].start > 0) throw syntax('unexpected indentation', 'start each setting at the beginning of its line');
      const [name, eq] = tokens;
      if (name.k !== 'name') throw syntax(`unexpected '${name.text}' at the start of the line`);
      if (eq?.text !== '=') throw syntax(eq ? `expected '=' after '${name.text}', found '${eq.text}'` : `expected '=' after '${name.text}'`);
      if (!(CONFIG_KEYS as readonly string[]).includes(name.text)) {
        throw new LineProblem(`unknown key '${name.text}'`, `known keys: ${CONFIG_KEYS.join(', ')}`);
      }
      const key = name.text as ConfigKey;
      const first = seen.get(key);
      if (first !== undefined) throw new LineProblem(`${key} is set twice (also on line ${first})`, 'keep one of them');
      if (tokens.length === 2) throw syntax(`no value after '${key} ='`, `e.g. ${key} = ${key === 'size' ? "'100G'" : 'the default in the comment above it'}`);
      const src = line.slice(tokens[2].start, tokens[tokens.length - 1].end);
      out[key] = configValue(key, evaluate(tokens, 2), src);
      seen.set(key, lineNo);
    } catch (e) {
      if (!(e instanceof LineProblem)) throw e;
      const message = `${file}:${lineNo}: ${e.what}${e.fix ? `; ${e.fix}` : ''}`;
      throw e.code === 'EBADSIZE' ? new SizeError(message) : new ConfigError(message);
    }
  });
  if (out.size === undefined) throw new ConfigError(`${file}: size is required, e.g. size = '100G'`);
  return { ...CONFIG_DEFAULTS, ...out } as CacheConfig;
}

/** What `dircache init` writes; times in milliseconds like CacheConfig, absent ones take the defaults. */
export interface ConfigInput {
  size: string | number;
  perm: Perm;
  file_sync: FileSync;
  lock_stale?: number;
  lock_timeout?: number;
}

/**
 * Fills the `{{name}}` placeholders of LMAKE-template/config.py. Checks every value first and
 * parses its own output, so init can never write a config that clients would refuse.
 */
export function renderConfigPy(template: string, cfg: ConfigInput): string {
  parseSize(cfg.size);
  if (!PERMS.includes(cfg.perm)) throw new ConfigError(`perm '${cfg.perm}' is not allowed; ${PERM_FIX}`);
  if (!FILE_SYNCS.includes(cfg.file_sync)) throw new ConfigError(`file_sync '${cfg.file_sync}' is not allowed; ${FILE_SYNC_FIX}`);
  const seconds = (key: 'lock_stale' | 'lock_timeout') => {
    const ms = Math.round(cfg[key] ?? CONFIG_DEFAULTS[key]);
    if (!(ms > 0) || !Number.isSafeInteger(ms)) throw new ConfigError(`${key} ${cfg[key]} ms is not allowed; ${TIME_FIX}`);
    return String(ms / 1000);
  };
  const values: Record<string, string> = {
    size: String(cfg.size).trim(),
    perm: cfg.perm,
    file_sync: cfg.file_sync,
    lock_stale: seconds('lock_stale'),
    lock_timeout: seconds('lock_timeout'),
  };
  const text = template.replace(/\{\{(\w+)\}\}/g, (_, name: string) => {
    if (!(name in values)) throw new ConfigError(`config template has an unknown placeholder {{${name}}}; known: ${Object.keys(values).join(', ')}`);
    return values[name];
  });
  parseConfigPy(text, 'rendered config.py');
  return text;
}

// ---------------------------------------------------------------------------------------------
// Client settings: what one client uses, from flags, environment, the repo's committed
// .dircache.json and the cache's config.py, in that order of precedence.

export interface ClientSettings {
  cache?: string;
  perm: Perm;
  file_sync: FileSync;
  repo_key?: string;
}
export type ClientKey = keyof ClientSettings;
export type Source = 'flag' | 'env' | 'repo file' | 'config.py' | 'default';

export interface ResolvedSettings {
  values: ClientSettings;
  sources: Record<ClientKey, Source>;
}

const CLIENT_KEYS: readonly ClientKey[] = ['cache', 'perm', 'file_sync', 'repo_key'];
export const ENV_VARS: Record<ClientKey, string> = {
  cache: 'DIRCACHE_DIR',
  perm: 'DIRCACHE_PERM',
  file_sync: 'DIRCACHE_FILE_SYNC',
  repo_key: 'DIRCACHE_REPO_KEY',
};

/** Checks one client setting; `what` names where it came from, e.g. "DIRCACHE_PERM='x'". */
function clientValue(key: ClientKey, value: unknown, what: string, baseDir: string): string {
  const fail = (fix: string) => new ConfigError(`${what} is not allowed; ${fix}`);
  switch (key) {
    case 'perm':
      if (!PERMS.includes(value as Perm)) throw fail(PERM_FIX);
      return value as string;
    case 'file_sync':
      if (!FILE_SYNCS.includes(value as FileSync)) throw fail(FILE_SYNC_FIX);
      return value as string;
    case 'cache':
      if (typeof value !== 'string' || value === '') throw fail('give the path of the cache dir, e.g. "/mnt/cache"');
      return resolve(baseDir, value);
    case 'repo_key':
      if (typeof value !== 'string' || value === '') throw fail('give a non-empty string');
      return value;
  }
}

/** Parses the repo's committed .dircache.json; a relative `cache` is relative to the file's dir. */
export function parseRepoFile(text: string, file: string): Partial<ClientSettings> {
  const example = '{"cache": "/mnt/cache", "perm": "group"}';
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`${file}: not valid JSON (${(e as Error).message}); write an object such as ${example}`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new ConfigError(`${file}: not a JSON object; write an object such as ${example}`);
  }
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(data)) {
    if (key === 'size') throw new ConfigError(`${file}: size cannot be set per repo; it is set by the cache admin in LMAKE/config.py`);
    if (!(CLIENT_KEYS as readonly string[]).includes(key)) {
      throw new ConfigError(`${file}: unknown key '${key}'; known keys: ${CLIENT_KEYS.join(', ')}`);
    }
    out[key] = clientValue(key as ClientKey, value, `${file}: ${key} = ${JSON.stringify(value)}`, dirname(file));
  }
  return out as Partial<ClientSettings>;
}

export interface SettingsLayers {
  flags: Partial<ClientSettings>;
  env: NodeJS.ProcessEnv;
  repoFile?: { file: string; values: Partial<ClientSettings> };
  cacheConfig?: CacheConfig;
  /** Relative paths in flags and env are relative to it (default process.cwd()). */
  cwd?: string;
}

/**
 * Each client setting from the first layer that has it: flag > env > repo file > config.py >
 * default. Flags and env values are checked even when a higher layer wins, so a typo is never
 * silently ignored. An empty env var counts as unset (`DIRCACHE_PERM= cmd`).
 */
export function resolveSettings(layers: SettingsLayers): ResolvedSettings {
  const cwd = layers.cwd ?? process.cwd();
  const defaults: Partial<ClientSettings> = { perm: CONFIG_DEFAULTS.perm, file_sync: CONFIG_DEFAULTS.file_sync };
  const fromConfig: Partial<ClientSettings> = layers.cacheConfig
    ? { perm: layers.cacheConfig.perm, file_sync: layers.cacheConfig.file_sync }
    : {};
  const values: Partial<Record<ClientKey, string>> = {};
  const sources = {} as Record<ClientKey, Source>;
  for (const key of CLIENT_KEYS) {
    const flag = layers.flags[key];
    const envName = ENV_VARS[key];
    const env = layers.env[envName] || undefined;
    const candidates: [unknown, Source][] = [
      [flag === undefined ? undefined : clientValue(key, flag, `--${key.replace('_', '-')} ${JSON.stringify(flag)}`, cwd), 'flag'],
      [env === undefined ? undefined : clientValue(key, env, `${envName}=${JSON.stringify(env)}`, cwd), 'env'],
      [layers.repoFile?.values[key], 'repo file'],
      [fromConfig[key], 'config.py'],
      [defaults[key], 'default'],
    ];
    const [value, source] = candidates.find(([v]) => v !== undefined) ?? [undefined, 'default'];
    if (value !== undefined) values[key] = value as string;
    sources[key] = source;
  }
  return { values: values as unknown as ClientSettings, sources };
}

// ---------------------------------------------------------------------------------------------
// Disk access.

export const CONFIG_FILE = 'LMAKE/config.py';
export const REPO_FILE = '.dircache.json';

/** The file's text, or undefined if it (or a dir above it) does not exist. */
function readIfExists(file: string, permissionFix: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    if (code === 'EACCES' || code === 'EPERM') throw new PermissionError(`cannot read ${file}: permission denied; ${permissionFix}`);
    throw new DircacheError(code ?? 'EIO', `cannot read ${file}: ${(e as Error).message}`);
  }
}

/** Reads and checks `<root>/LMAKE/config.py`; reads only, so a bad config changes nothing. */
export function readCacheConfig(root: string): CacheConfig {
  const file = join(root, CONFIG_FILE);
  const text = readIfExists(file, "ask the cache's admin for read access (dircache init --perm group makes a cache its group can use)");
  if (text === undefined) {
    throw new ConfigError(`${root} is not a dircache cache (no ${CONFIG_FILE}); create one with: dircache init ${root} --size SIZE`, 'ENOTCACHE');
  }
  return parseConfigPy(text, file);
}

/** The repo's committed settings, or undefined when it has no .dircache.json. */
export function readRepoFile(repoRoot: string): { file: string; values: Partial<ClientSettings> } | undefined {
  const file = join(repoRoot, REPO_FILE);
  const text = readIfExists(file, 'check its permissions');
  return text === undefined ? undefined : { file, values: parseRepoFile(text, file) };
}

/** LMAKE-template/config.py: `..` from src/ (vitest) and from dist/ (built) is the package root. */
export function templatePath(): string {
  return packagePath('LMAKE-template/config.py');
}
