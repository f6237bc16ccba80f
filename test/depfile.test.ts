import { describe, expect, it } from 'vitest';
import { parseDepfile } from '../src/depfile.js';
import { DepfileError } from '../src/errors.js';

describe('parseDepfile', () => {
  it('reads what gcc -MD -MP writes: continuations, absolute system headers, -MP empty rules', () => {
    const text = [
      'obj/main.o: src/main.c /usr/include/stdio.h \\',
      ' src/greet.h \\',
      '  src/calc.h',
      '/usr/include/stdio.h:',
      'src/greet.h:',
      'src/calc.h:',
      '',
    ].join('\n');
    expect(parseDepfile(text, 'obj/main.d')).toEqual(['src/main.c', '/usr/include/stdio.h', 'src/greet.h', 'src/calc.h']);
  });

  it('unescapes spaces, hashes and dollars in names', () => {
    expect(parseDepfile('out.o: my\\ dir/a\\ b.h x\\#1.h cost$$.h\n', 'd')).toEqual(['my dir/a b.h', 'x#1.h', 'cost$.h']);
  });

  it('takes several targets, several rules, :: rules and CRLF line ends; each dep once', () => {
    const text = 'a.o b.o: common.h a.c\r\nb.o:: common.h b.c\r\n';
    expect(parseDepfile(text, 'd')).toEqual(['common.h', 'a.c', 'b.c']);
  });

  it('ignores comments and blank lines; an empty file has no deps', () => {
    expect(parseDepfile('# made by hand\n\n  \nx.o: x.c # trailing comment\n', 'd')).toEqual(['x.c']);
    expect(parseDepfile('', 'd')).toEqual([]);
  });

  it('keeps a colon inside a name (not followed by a blank)', () => {
    expect(parseDepfile('t.o: dir/a:b.h\n', 'd')).toEqual(['dir/a:b.h']);
  });

  it('a continuation at the very end of the file is harmless', () => {
    expect(parseDepfile('t.o: a.h \\\n', 'd')).toEqual(['a.h']);
  });

  it.each([
    ['just words here\n', /obj\/x\.d:1: expected "target: prerequisites", got 'just words here'/],
    ['x.o: a.h\n: b.h\n', /obj\/x\.d:2: a rule with no target/],
    ['x.o: a.h : b.h\n', /obj\/x\.d:1: a second ':' in one rule/],
  ])('rejects %j with a message naming file and line', (text, msg) => {
    let err: unknown;
    try {
      parseDepfile(text, 'obj/x.d');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DepfileError);
    expect((err as DepfileError).code).toBe('EDEPFILE');
    expect((err as Error).message).toMatch(msg);
  });
});
