import { renameSync } from 'node:fs';
import { join } from 'node:path';
import type { Cache } from './cache.js';
import { exists, isNotFound, removeTree, removeTrees, uniqueName } from './fsutil.js';
import { adminPaths } from './layout.js';
import { packagePath } from './package-root.js';
import { leftoverInUse, listAdminDir, readHint, walkTree } from './walk.js';

export interface CleanupResult {
  /** Trash dirs deleted (or, dry, there to delete). */
  trash: number;
  /** Hints to entries that are gone, and hint temp links of dead processes, removed. */
  hints: number;
  hintTmp: number;
}

/**
 * What gc leaves for after its evictions, because nobody waits for it and it costs far more than
 * evicting: delete what is in LMAKE/trash, then walk the job dirs for hints that point at evicted
 * entries and hint temp links that dead processes left. Safe beside another cleanup or gc (removing
 * a tree tolerates a concurrent remover); what a killed cleanup leaves, the next one does.
 */
export async function cleanup(cache: Cache, opts: { graceMs: number; dryRun?: boolean }): Promise<CleanupResult> {
  const { root } = cache;
  const names = listAdminDir(root, 'trash');
  const r: CleanupResult = { trash: names.length, hints: 0, hintTmp: 0 };
  const remove = (path: string) => {
    if (!opts.dryRun) removeTree(path);
  };
  if (names.length && !opts.dryRun) {
    // A dead holder's journal is redone by renaming into trash whatever is at the source path now:
    // if its trash dir were deleted first, the redo would trash a newer entry. Taking each shard's
    // lock once (which redoes a dead holder's journal) settles every update that made what we listed.
    for (let s = 0; s < cache.settings.shards; s++) await cache.withShardLock(s, 'cleanup: settle updates before deleting trash', () => undefined, true);
    await removeTrees(names.map((n) => join(adminPaths(root).trash, n)));
  }
  const now = Date.now();
  for (const item of walkTree(root)) {
    if (item.kind === 'hint') {
      // if an upload re-points the hint meanwhile, losing it costs that job one scan
      const target = readHint(root, item.path);
      if (target === undefined || exists(join(root, item.jobPath, target))) continue;
      remove(join(root, item.path));
      r.hints++;
    } else if (item.kind === 'hint-tmp' && !leftoverInUse(join(root, item.path), now, opts.graceMs)) {
      remove(join(root, item.path));
      r.hintTmp++;
    }
  }
  return r;
}

/**
 * Run `dircache gc --cleanup-only` detached, so the cleanup holds up neither the caller nor its
 * exit. Returns its pid, or undefined if it could not start: then the next gc does the cleanup.
 */
export function startCleanup(cache: Cache, graceMs: number): number | undefined {
  const { perm, fileSync } = cache.settings;
  const args = [packagePath('bin/dircache'), 'gc', '--cleanup-only', '--quiet', '--grace', `${graceMs}ms`, '--perm', perm, '--file-sync', fileSync, '--cache', cache.root];
  // loaded here, not imported: a CLI hit never spawns, and child_process loads net and dgram with it
  const { spawn } = process.getBuiltinModule('node:child_process');
  const child = spawn(process.execPath, args, { cwd: cache.root, detached: true, stdio: 'ignore' });
  child.once('error', () => {}); // could not start: the trash waits for the next gc, as after a kill
  child.unref();
  return child.pid;
}

/** Take a dir (relative to the root) out of sight into the trash; gone already is fine. */
export function moveToTrash(root: string, rel: string): void {
  try {
    renameSync(join(root, rel), join(adminPaths(root).trash, uniqueName()));
  } catch (e) {
    if (!isNotFound(e)) throw e;
  }
}
