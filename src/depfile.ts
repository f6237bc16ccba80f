import { DepfileError } from './errors.js';

/**
 * The prerequisites of a Make-style dependency file, as `gcc -MD -MF` writes it: rules
 * `targets: prereqs`, backslash-newline continuations, `\ ` for a space and `\#` for a hash in a
 * name, `$$` for a dollar, `#` comments, and `-MP`'s empty `header.h:` rules. Targets are not
 * deps (they are the job's outputs), so only the prerequisites of every rule are returned, each
 * once, in order of first appearance. Pure: `where` only names the file in messages.
 */
export function parseDepfile(text: string, where: string): string[] {
  const out = new Set<string>();
  const lines = text.replace(/\\\r?\n/g, ' ').split(/\r?\n/);
  lines.forEach((line, i) => {
    const words = splitWords(line);
    if (words.length === 0) return;
    const colon = words.findIndex((w) => w.sep);
    if (colon < 0) throw new DepfileError(`${where}:${i + 1}: expected "target: prerequisites", got '${line.trim()}'`);
    if (colon === 0) throw new DepfileError(`${where}:${i + 1}: a rule with no target: '${line.trim()}'`);
    for (const w of words.slice(colon + 1)) {
      if (w.sep) throw new DepfileError(`${where}:${i + 1}: a second ':' in one rule: '${line.trim()}'`);
      out.add(w.text);
    }
  });
  return [...out];
}

interface Word {
  text: string;
  /** The rule separator ':' rather than a name. */
  sep?: true;
}

/**
 * Words of one logical line. A ':' separates targets from prerequisites when it ends a word and is
 * followed by a blank or the end of the line (so `C:\x` or `a:b` stay names); `::` counts too.
 */
function splitWords(line: string): Word[] {
  const words: Word[] = [];
  let cur = '';
  let started = false;
  const flush = () => {
    if (started) words.push({ text: cur });
    cur = '';
    started = false;
  };
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    const next = line[i + 1];
    if (c === '\\' && (next === ' ' || next === '\t' || next === '#')) {
      cur += next;
      started = true;
      i++;
    } else if (c === '$' && next === '$') {
      cur += '$';
      started = true;
      i++;
    } else if (c === '#') {
      break;
    } else if (c === ' ' || c === '\t') {
      flush();
    } else if (c === ':' && (next === undefined || next === ' ' || next === '\t' || next === ':')) {
      flush();
      words.push({ text: ':', sep: true });
      if (next === ':') i++;
    } else {
      cur += c;
      started = true;
    }
  }
  flush();
  return words;
}
