import { describe, expect, it } from 'vitest';
import { BadRequestError } from '../src/errors.js';
import { MAX_REPLY_TEXT, REQUEST_MAGIC, decodeRequest, encodeReply } from '../src/serve-protocol.js';

/** As bin/dircache-run writes it: printf '%s\0' MAGIC "$PWD" N ENV... M ARGS... */
const request = (fields: string[]) => fields.map((f) => f + '\0').join('');

describe('decodeRequest', () => {
  it('reads cwd, env and arguments, which may hold spaces, newlines and "="', () => {
    const data = request([REQUEST_MAGIC, '/w s', '2', 'DIRCACHE_DIR=/c=1', 'HOME=/h', '3', '--job', 'a\nb', '']);
    expect(decodeRequest(data)).toEqual({ cwd: '/w s', env: { DIRCACHE_DIR: '/c=1', HOME: '/h' }, argv: ['--job', 'a\nb', ''] });
  });

  it('takes empty env and argument lists', () => {
    expect(decodeRequest(request([REQUEST_MAGIC, '/', '0', '0']))).toEqual({ cwd: '/', env: {}, argv: [] });
  });

  it.each([
    ['another version', request(['dircache-run 2', '/', '0', '0']), /request version 'dircache-run 2'/],
    ['no final NUL', request([REQUEST_MAGIC, '/', '0']) + '0', /does not end with a NUL/],
    ['a relative cwd', request([REQUEST_MAGIC, 'w', '0', '0']), /cwd 'w' is not absolute/],
    ['a bad count', request([REQUEST_MAGIC, '/', 'x', '0']), /bad env count 'x'/],
    ['an env entry without =', request([REQUEST_MAGIC, '/', '1', 'HOME', '0']), /env entry 'HOME' is not NAME=VALUE/],
    ['fewer arguments than counted', request([REQUEST_MAGIC, '/', '0', '2', 'a']), /ends before its argument/],
    ['fields after the arguments', request([REQUEST_MAGIC, '/', '0', '1', 'a', 'b']), /fields after its arguments/],
  ])('refuses %s with EBADREQUEST', (_what, data, message) => {
    let err: unknown;
    try {
      decodeRequest(data);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BadRequestError);
    expect((err as BadRequestError).code).toBe('EBADREQUEST');
    expect((err as Error).message).toMatch(message);
  });
});

describe('encodeReply', () => {
  it('is a status line, the text, then a NUL', () => {
    expect(encodeReply({ status: 'hit', text: 'dircache: hit: a\n' })).toBe('hit\ndircache: hit: a\n\0');
    expect(encodeReply({ status: 'miss', text: '' })).toBe('miss\n\0');
  });

  it('keeps one reply well under PIPE_BUF and free of NULs', () => {
    const r = encodeReply({ status: 'miss', text: 'é\0'.repeat(10_000) });
    expect(Buffer.byteLength(r)).toBeLessThan(4096);
    expect(Buffer.byteLength(r)).toBeGreaterThan(MAX_REPLY_TEXT);
    expect(r.indexOf('\0')).toBe(r.length - 1);
  });
});
