// A stand-in for a bundler: concatenates src/*.js into dist/bundle.js.
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';

const files = readdirSync('src').filter((f) => f.endsWith('.js')).sort();
mkdirSync('dist', { recursive: true });
writeFileSync('dist/bundle.js', files.map((f) => `// ${f}\n${readFileSync(`src/${f}`, 'utf8')}`).join('\n'));
console.log(`bundled ${files.length} files`);
