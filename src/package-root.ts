import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * A file shipped with the package (the config template, package.json). Code runs from src/ or dist/
 * (one level below the package root) or from the bundled CLI (dist/bundle/).
 */
export function packagePath(rel: string): string {
  for (const up of ['../', '../../']) {
    const p = fileURLToPath(new URL(up + rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  throw new Error(`dircache is incompletely installed: ${rel} not found above ${fileURLToPath(import.meta.url)}`);
}

/**
 * A dependency loaded on first use, not at start-up, where a CLI hit never needs it. Required, not
 * imported: the CLI bundle runs as a script compiled with a code cache (bin/dircache), where Node 20
 * has no dynamic import(). `node:module` is fetched only then too: loading it starts part of Node's
 * ES module loader.
 */
export function requireOnFirstUse<T>(name: string): T {
  return process.getBuiltinModule('node:module').createRequire(import.meta.url)(name) as T;
}
