import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { requireOnFirstUse } from './package-root.js';

/**
 * The workspace root: the enclosing git work tree, found by looking for `.git` (a dir, or a file in
 * worktrees and submodules) — no git process on the hit path. Outside git, the cwd itself.
 */
export function findRepoRoot(cwd: string): { root: string; inGit: boolean } {
  const start = resolve(cwd);
  for (let d = start; ; d = dirname(d)) {
    if (existsSync(join(d, '.git'))) return { root: d, inGit: true };
    if (d === dirname(d)) return { root: start, inGit: false };
  }
}

/**
 * The default repo key: `<repo root> <HEAD sha>`, asked of git itself (it knows worktrees, GIT_DIR
 * and friends). A repo with no commit yet, or no repo, is keyed by its root alone.
 */
export async function defaultRepoKey(cwd: string): Promise<string> {
  const { root, inGit } = findRepoRoot(cwd);
  if (!inGit) return root;
  const { simpleGit } = requireOnFirstUse<typeof import('simple-git')>('simple-git');
  const git = simpleGit({ baseDir: root });
  try {
    const [top, head] = (await git.revparse(['--show-toplevel', 'HEAD'])).split('\n');
    return `${top} ${head}`;
  } catch {
    return root;
  }
}
