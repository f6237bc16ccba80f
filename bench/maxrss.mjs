// maxrss.mjs OUT ARGS... — run the dircache CLI (bin/dircache) in this process and write its peak RSS (KiB) to OUT at exit.
import * as fs from 'node:fs';
import { createRequire } from 'node:module';

const [out, ...args] = process.argv.slice(2);
process.on('exit', () => fs.writeFileSync(out, String(process.resourceUsage().maxRSS)));
process.argv = [process.argv[0], 'dircache', ...args];
createRequire(import.meta.url)('../bin/dircache');
