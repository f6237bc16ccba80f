// maxrss.mjs OUT ARGS... — run the dircache CLI in this process and write its peak RSS (KiB) to OUT at exit.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const [out, ...args] = process.argv.slice(2);
process.on('exit', () => fs.writeFileSync(out, String(process.resourceUsage().maxRSS)));
process.argv = [process.argv[0], 'dircache', ...args];
await import(path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli.js'));
