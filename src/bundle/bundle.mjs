// The CLI's two bundles (npm run bundle), built afresh from tsc's output in dist/:
// - dist/bundle/cli.cjs: the hot commands, as CommonJS, which bin/dircache compiles with a code
//   cache. `import.meta` has no CommonJS form, so it becomes an object whose `url` is computed only
//   when read (a hit never reads it).
// - dist/bundle/cli-full.js: the full CLI (yargs), as an ES module that bin/dircache imports on
//   demand. Bundled CommonJS dependencies call `require` and read `__filename`, which an ES module
//   lacks: the banner defines both.
// Both leave simple-git in node_modules (a hit would otherwise parse its ~110 KB) and replace
// signal-exit with a no-op (src/bundle/no-exit-hook.cjs says why).
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

rmSync('dist/bundle', { recursive: true, force: true });

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  logLevel: 'warning',
  external: ['simple-git'],
  alias: { 'signal-exit': fileURLToPath(new URL('./no-exit-hook.cjs', import.meta.url)) },
};
await build({
  ...common,
  entryPoints: ['dist/cli.js'],
  format: 'cjs',
  outfile: 'dist/bundle/cli.cjs',
  define: { 'import.meta': '__importMeta' },
  banner: { js: "const __importMeta = { get url() { return require('node:url').pathToFileURL(__filename).href; } };" },
});
await build({
  ...common,
  entryPoints: ['dist/cli-full.js'],
  format: 'esm',
  outfile: 'dist/bundle/cli-full.js',
  banner: {
    js: "import { createRequire as __dcRequire } from 'node:module'; import { fileURLToPath as __dcPath } from 'node:url'; const require = __dcRequire(import.meta.url); const __filename = __dcPath(import.meta.url);",
  },
});
