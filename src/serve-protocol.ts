import { BadRequestError } from './errors.js';

/**
 * What bin/dircache-run and `dircache serve` say to each other. Pure.
 *
 * A request is a file of NUL-terminated fields, written by bash's printf:
 *   dircache-run 1, cwd, N, N × NAME=VALUE (the env the lookup may read), M, M × argument
 * A reply is one write to the client's FIFO: a status line, then text for stderr, then a NUL.
 */
export const REQUEST_MAGIC = 'dircache-run 1';

export interface ServeRequest {
  cwd: string;
  env: Record<string, string>;
  /** The arguments of `dircache run`, without the word `run`. */
  argv: string[];
}

/**
 * hit: the targets are restored, exit 0. miss: the client runs `dircache run --no-download`.
 * fallback: the client runs `dircache run` as given (the lookup could not be made here, e.g. a
 * usage or config error, which the CLI then reports as it always does).
 */
export type ServeStatus = 'hit' | 'miss' | 'fallback';

export interface ServeReply {
  status: ServeStatus;
  /** What `dircache run` would have printed on stderr before running CMD. */
  text: string;
}

/** Bytes of text: a reply stays one write under PIPE_BUF, so the client never reads half of one. */
export const MAX_REPLY_TEXT = 3000;

export function decodeRequest(data: string): ServeRequest {
  const fields = data.split('\0');
  if (fields.pop() !== '') throw new BadRequestError('request does not end with a NUL');
  let i = 0;
  const next = (what: string): string => {
    if (i >= fields.length) throw new BadRequestError(`request ends before its ${what}`);
    return fields[i++]!;
  };
  const count = (what: string): number => {
    const s = next(`${what} count`);
    if (!/^\d{1,6}$/.test(s)) throw new BadRequestError(`bad ${what} count '${s}'`);
    return Number(s);
  };
  const magic = next('version');
  if (magic !== REQUEST_MAGIC) throw new BadRequestError(`request version '${magic}', expected '${REQUEST_MAGIC}'`);
  const cwd = next('cwd');
  if (!cwd.startsWith('/')) throw new BadRequestError(`cwd '${cwd}' is not absolute`);
  const env: Record<string, string> = {};
  for (let n = count('env'); n > 0; n--) {
    const kv = next('env entry');
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new BadRequestError(`env entry '${kv}' is not NAME=VALUE`);
    env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const argv: string[] = [];
  for (let n = count('argument'); n > 0; n--) argv.push(next('argument'));
  if (i !== fields.length) throw new BadRequestError('request has fields after its arguments');
  return { cwd, env, argv };
}

export function encodeReply(r: ServeReply): string {
  let text = r.text.replaceAll('\0', '');
  if (Buffer.byteLength(text) > MAX_REPLY_TEXT) text = Buffer.from(text).subarray(0, MAX_REPLY_TEXT).toString() + '…\n';
  return `${r.status}\n${text}\0`;
}
