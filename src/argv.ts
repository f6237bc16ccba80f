/**
 * A start-up fast path for the commands a build runs once per job (download, upload, run): every
 * one of those processes would otherwise pay for loading yargs, which costs as much as the hit.
 * It understands the plain forms of the very option specs given to yargs; anything else (help,
 * a typo, a missing option, an unusual spelling) returns undefined and yargs takes over, so users
 * see exactly one parser's behaviour and messages. Pure.
 */
export interface OptionSpec {
  type: 'string' | 'boolean' | 'number';
  array?: boolean;
  demandOption?: boolean;
  default?: unknown;
  choices?: readonly string[];
  alias?: string;
}

export interface FastCommand {
  command: string;
  options: Record<string, OptionSpec>;
  /** takes `-- CMD ARGS...` */
  rest?: boolean;
}

export type ParsedArgs = Record<string, unknown> & { '--'?: string[] };

export function parseFast(argv: readonly string[], commands: readonly FastCommand[], globals: Record<string, OptionSpec>): { command: string; args: ParsedArgs } | undefined {
  const cmd = commands.find((c) => c.command === argv[0]);
  if (!cmd) return undefined;
  const specs: Record<string, OptionSpec> = { ...globals, ...cmd.options };
  const byAlias = new Map(Object.entries(specs).flatMap(([name, s]) => (s.alias ? [[s.alias, name] as const] : [])));
  const args: ParsedArgs = {};
  const isValue = (t: string | undefined) => t !== undefined && (!t.startsWith('-') || t === '-');
  for (let i = 1; i < argv.length; i++) {
    const tok = argv[i]!;
    if (tok === '--') {
      if (!cmd.rest) return undefined;
      args['--'] = argv.slice(i + 1);
      break;
    }
    const m = /^(?:--([a-z][a-z0-9-]*)(?:=(.*))?|-([a-zA-Z]))$/s.exec(tok);
    if (!m) return undefined;
    let name = m[1] ?? byAlias.get(m[3]!);
    let inline = m[2];
    let negated = false;
    if (name && !specs[name] && name.startsWith('no-') && specs[name.slice(3)]?.type === 'boolean' && inline === undefined) {
      name = name.slice(3);
      negated = true;
    }
    const spec = name ? specs[name] : undefined;
    if (!name || !spec || (!spec.array && name in args)) return undefined;
    if (spec.type === 'boolean') {
      if (inline !== undefined && inline !== 'true' && inline !== 'false') return undefined;
      args[name] = negated ? false : inline !== 'false';
      continue;
    }
    const values: string[] = [];
    if (inline !== undefined) values.push(inline);
    else if (isValue(argv[i + 1])) values.push(argv[++i]!);
    else return undefined;
    // yargs' arrays are greedy: they take every following word up to the next option
    if (spec.array) while (isValue(argv[i + 1])) values.push(argv[++i]!);
    const typed: unknown[] = [];
    for (const v of values) {
      if (spec.choices && !spec.choices.includes(v)) return undefined;
      const t = spec.type === 'number' ? Number(v) : v;
      if (typeof t === 'number' && (v.trim() === '' || Number.isNaN(t))) return undefined;
      typed.push(t);
    }
    args[name] = spec.array ? [...((args[name] as unknown[]) ?? []), ...typed] : typed[0];
  }
  for (const [name, s] of Object.entries(specs)) {
    if (name in args) continue;
    if (s.demandOption) return undefined;
    if (s.default !== undefined) args[name] = s.default;
  }
  return { command: cmd.command, args };
}
