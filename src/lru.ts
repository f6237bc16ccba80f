import { join } from 'node:path';
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { type FsPolicy, exists, isNotFound, readText, uniqueName } from './fsutil.js';
import { type JournalOp, runJournal } from './journal.js';
import { ADMIN_DIR, ENTRY_LRU, shardPaths } from './layout.js';
import {
  ACCESS_OFFSET, type EntryLru, type Head, type Reservation, decodeEntryLru, decodeHead, encodeAccess, encodeEntryLru, encodeHead, encodeReservation,
} from './records.js';
import { UploadError } from './errors.js';

/**
 * One metadata update of a shard's LRU, made under the shard's lock: records are read on demand,
 * changed in memory, and written at commit through the journal, so a crash mid-way is redone by
 * whoever breaks the lock. Entries are named by their path relative to the root.
 */
export class ShardTxn {
  readonly head: Head;
  private readonly recs = new Map<string, EntryLru>();
  private readonly dirty = new Set<string>();
  private readonly gone = new Set<string>();
  private readonly before: JournalOp[] = [];
  private readonly after: JournalOp[] = [];
  private headDirty = false;
  readonly trashed: string[] = []; // trash dirs to delete once the lock is released

  constructor(
    private readonly p: FsPolicy,
    readonly shard: number,
    readonly budget: number,
  ) {
    this.head = readHead(p.root, shard);
  }

  get(id: string): EntryLru {
    let r = this.recs.get(id);
    if (!r) {
      const path = join(this.p.root, id, ENTRY_LRU);
      r = decodeEntryLru(readText(path), path);
      this.recs.set(id, r);
    }
    return r;
  }

  private set(id: string, r: EntryLru): void {
    this.recs.set(id, r);
    this.dirty.add(id);
  }

  private touchHead(): void {
    this.headDirty = true;
  }

  /** Take an entry out of the list (its own record is left as is). */
  unlink(id: string): void {
    const r = this.get(id);
    if (r.newer) this.set(r.newer, { ...this.get(r.newer), older: r.older });
    else this.head.newest = r.older;
    if (r.older) this.set(r.older, { ...this.get(r.older), newer: r.newer });
    else this.head.oldest = r.newer;
    this.head.entries--;
    this.head.total -= r.size;
    this.touchHead();
  }

  /** Link an entry at the newest end; `size` joins the head total. */
  pushNewest(id: string, size: number, placed: number, access: number): void {
    const older = this.head.newest;
    this.set(id, { newer: null, older, size, placed, access });
    this.gone.delete(id);
    if (older) this.set(older, { ...this.get(older), newer: id });
    else this.head.oldest = id;
    this.head.newest = id;
    this.head.entries++;
    this.head.total += size;
    this.touchHead();
  }

  /** Unlink and move to trash (deleted outside the lock). */
  remove(id: string): number {
    const size = this.get(id).size;
    this.unlink(id);
    const trash = join(ADMIN_DIR, 'trash', uniqueName());
    this.before.push({ op: 'rename', from: id, to: trash });
    this.trashed.push(trash);
    this.gone.add(id);
    this.dirty.delete(id);
    return size;
  }

  /**
   * Evict from the old end until `need` more bytes fit the budget. An entry read since it was placed
   * gets a second chance: relinked at the newest end (in the order of its access) instead of evicted,
   * so the tail is always one nobody has read since it got there.
   */
  makeRoom(need: number, now: number): string[] {
    const evicted: string[] = [];
    const reread: Array<[string, EntryLru]> = [];
    let held = 0; // bytes of re-read entries out of the list until relinked: they still take room
    const relink = () => {
      this.relinkInAccessOrder(reread, now);
      reread.length = 0;
      held = 0;
    };
    while (this.head.total + held + need > this.budget) {
      const id = this.head.oldest;
      if (!id) {
        if (reread.length) {
          relink();
          continue;
        }
        throw new UploadError('ECACHEFULL', `shard ${this.shard} cannot make room for ${need} bytes: uploads in flight hold its whole budget (${this.budget} bytes); try again later`);
      }
      const r = this.get(id);
      if (r.access > r.placed) {
        this.unlink(id);
        reread.push([id, r]);
        held += r.size;
      } else {
        this.remove(id);
        evicted.push(id);
      }
    }
    relink();
    return evicted;
  }

  /** Second chance: entries unlinked because they were read since placed go back at the newest end, in the order of their reads. */
  relinkInAccessOrder(reread: ReadonlyArray<readonly [string, EntryLru]>, now: number): void {
    for (const [id, r] of [...reread].sort((a, b) => a[1].access - b[1].access)) this.pushNewest(id, r.size, Math.max(now, r.access), r.access);
  }

  reserve(res: Reservation): void {
    this.head.total += res.bytes;
    this.touchHead();
    this.before.push({ op: 'write', path: reservationPath(this.shard, res.token), text: encodeReservation(res) });
  }

  /**
   * Give a reservation's bytes back, if its record is still there: gc may have reclaimed it (an
   * upload past the grace period), or its upload committed it meanwhile. Returns whether it did.
   */
  releaseIfHeld(res: Pick<Reservation, 'token' | 'bytes'>): boolean {
    const rel = reservationPath(this.shard, res.token);
    if (!exists(join(this.p.root, rel))) return false;
    this.head.total -= res.bytes;
    this.touchHead();
    this.before.push({ op: 'unlink', path: rel });
    return true;
  }

  /** Publish a built entry dir under its final name (before its record is written). */
  rename(from: string, to: string): void {
    this.before.push({ op: 'rename', from, to });
  }

  symlink(path: string, target: string): void {
    this.after.push({ op: 'symlink', path, target });
  }

  commit(): void {
    const ops: JournalOp[] = [...this.before];
    for (const id of this.dirty) if (!this.gone.has(id)) ops.push({ op: 'write', path: join(id, ENTRY_LRU), text: encodeEntryLru(this.recs.get(id)!) });
    if (this.headDirty) ops.push({ op: 'write', path: headRel(this.shard), text: encodeHead(this.head) });
    ops.push(...this.after);
    runJournal(this.p, shardPaths(this.p.root, this.shard).journal, ops);
  }
}

function headRel(shard: number): string {
  return join(ADMIN_DIR, 'shards', String(shard), 'lru');
}

export function reservationPath(shard: number, token: string): string {
  return join(ADMIN_DIR, 'shards', String(shard), 'reserved', token);
}

export function readHead(root: string, shard: number): Head {
  const path = shardPaths(root, shard).head;
  return decodeHead(readText(path), path);
}

/**
 * The hit path's only write under the lock: the entry's access time, one pwrite at a fixed offset.
 * Returns false when the entry is gone (evicted or replaced since we matched it).
 */
export function recordAccess(p: FsPolicy, id: string, now: number): boolean {
  let fd: number;
  try {
    fd = openSync(join(p.root, id, ENTRY_LRU), 'r+');
  } catch (e) {
    if (isNotFound(e)) return false;
    throw e;
  }
  try {
    writeSync(fd, encodeAccess(now), ACCESS_OFFSET);
    if (p.fileSync === 'sync') fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return true;
}
