// The printed table and docs/benchmarks.md: figures, the machine, the date, and what limits each
// missed goal (bench/findings.md, kept by hand next to the code it describes).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO } from './lib.mjs';

function machine() {
  const model = fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.*)$/m)?.[1] ?? 'unknown CPU';
  const fsType = fs.readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')).filter((f) => f[1] && os.tmpdir().startsWith(f[1])).sort((a, b) => b[1].length - a[1].length)[0]?.[2] ?? '?';
  return `${model}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Linux ${os.release()}, Node ${process.version}, scratch dir on ${fsType} (${os.tmpdir()})`;
}

const verdict = (r) => (r.pass === true ? 'yes' : r.pass === false ? '**no**' : '—');
const cell = (s) => String(s ?? '').replace(/\|/g, '\\|');

export function writeReport(rows, { secs, quick, out }) {
  const lines = [
    '| what | measured | baseline (same run) | ratio | goal | met |',
    '|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${cell(r.what)} | ${cell(r.value)} | ${cell(r.baseline)} | ${r.ratio === undefined ? '—' : `${r.ratio.toFixed(2)}x`} | ${cell(r.goal ?? '—')} | ${verdict(r)} |`),
  ];
  const notes = rows.filter((r) => r.note).map((r) => `- **${cell(r.what)}**: ${r.note}`);
  const trace = rows.find((r) => r.trace)?.trace;
  const findings = path.join(REPO, 'bench', 'findings.md');
  const doc = [
    '# Benchmarks',
    '',
    `Written by \`npm run bench\`${quick ? ' (a smoke or partial run: BENCH_QUICK or BENCH_ONLY; not figures to quote)' : ''} on ${new Date().toISOString().slice(0, 10)}, in ${secs.toFixed(0)} s.`,
    '',
    `Machine: ${machine()}.`,
    '',
    'Times are medians of several runs; every ratio compares two figures measured in the same run,',
    'interleaved where it matters, since absolute times drift on a shared machine. Tests never assert',
    'timings; only this bench does.',
    '',
    ...lines,
    '',
    '## Notes on the rows',
    '',
    ...notes,
    ...(trace ? ['', '## A hit\'s file operations on the cache under its shard\'s lock (strace of one `dircache download`)', '', '```', ...trace, '```'] : []),
    '',
    ...(fs.existsSync(findings) ? [fs.readFileSync(findings, 'utf8').trim(), ''] : []),
  ];
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, doc.join('\n'));
  return lines.join('\n');
}
