/** Progress of a long walk: items done of a total, and bytes. */
export interface Progress {
  tick(items?: number, bytes?: number): void;
  /** The total was an estimate (heads' entry counts); walks may find more. */
  grow(total: number): void;
  stop(): void;
}

export const NO_PROGRESS: Progress = { tick() {}, grow() {}, stop() {} };
