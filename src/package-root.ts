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
