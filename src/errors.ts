/**
 * Every error dircache reports on purpose is a DircacheError with a stable `code` (for scripts and
 * the library API) and an `exitCode` (for the CLI). Anything else reaching the CLI is a bug.
 */
export const EXIT = {
  ok: 0,
  miss: 1,
  error: 2,
  usage: 3,
  config: 4,
  lockTimeout: 5,
  permission: 6,
} as const;

export class DircacheError extends Error {
  readonly code: string;
  readonly exitCode: number;
  constructor(code: string, message: string, exitCode: number = EXIT.error) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.exitCode = exitCode;
  }
}

/** Bad command-line usage or arguments (job names, inputs, paths). */
export class UsageError extends DircacheError {
  constructor(message: string, code = 'EUSAGE') {
    super(code, message, EXIT.usage);
  }
}

/** A config file (LMAKE/config.py, the repo's .dircache.json, LMAKE/version) is malformed. */
export class ConfigError extends DircacheError {
  constructor(message: string, code = 'ECONFIG') {
    super(code, message, EXIT.config);
  }
}

/** A shard lock could not be had before the deadline. */
export class LockTimeoutError extends DircacheError {
  constructor(message: string) {
    super('ELOCKTIMEOUT', message, EXIT.lockTimeout);
  }
}

/** The lock we held was broken or replaced by someone else. */
export class LockLostError extends DircacheError {
  constructor(message: string) {
    super('ELOCKLOST', message, EXIT.error);
  }
}

/** The cache dir or a workspace file cannot be read or written by this user. */
export class PermissionError extends DircacheError {
  constructor(message: string) {
    super('EPERMISSION', message, EXIT.permission);
  }
}

/** An upload was refused (missing target, target outside the workspace, too large, ...). */
export class UploadError extends DircacheError {
  constructor(code: string, message: string) {
    super(code, message, EXIT.error);
  }
}

/** An entry is damaged or crafted: treated as a miss by downloads, removed by repair. */
export class CorruptEntryError extends DircacheError {
  constructor(message: string, code = 'ECORRUPT') {
    super(code, message, EXIT.error);
  }
}

/** Restoring an entry would write through a symlink or over a dir in the workspace: a miss, the entry stays. */
export class UnsafeRestoreError extends DircacheError {
  constructor(message: string) {
    super('EUNSAFE', message, EXIT.error);
  }
}

/** A Make-style dependency file (`--deps-file`) cannot be parsed. */
export class DepfileError extends DircacheError {
  constructor(message: string) {
    super('EDEPFILE', message, EXIT.error);
  }
}

/** A dircache-run request that `dircache serve` cannot read. */
export class BadRequestError extends DircacheError {
  constructor(message: string) {
    super('EBADREQUEST', message);
  }
}

/** The dir of `dircache serve` is not this user's alone. */
export class UnsafeDirError extends DircacheError {
  constructor(message: string) {
    super('EUNSAFEDIR', message, EXIT.permission);
  }
}
