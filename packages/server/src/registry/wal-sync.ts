import { closeSync, fsync, openSync } from "node:fs";

const noop = (): void => {};

/** `fs.fsync`'s shape, injectable for tests. */
export type Fsync = (fd: number, done: (err: NodeJS.ErrnoException | null) => void) => void;

/**
 * Syncs a database's write-ahead log on the thread pool instead of inside COMMIT on the event
 * loop. `sync()` resolves once an fsync that started after the call has completed, so everything
 * committed before the call is on disk; callers that arrive while an fsync runs share the next
 * one (group commit). Errors reject and the file is opened again at the next sync.
 */
export class WalSync {
  #fd: number | undefined;
  #running: Promise<void> | undefined;
  #next: Promise<void> | undefined;

  constructor(
    private readonly path: string,
    private readonly fsyncFile: Fsync = fsync,
  ) {}

  sync(): Promise<void> {
    if (this.#running === undefined) return this.#start();
    // The fsync in flight may have started before the caller's commit: wait for the next one.
    this.#next ??= this.#running
      .catch(() => undefined)
      .then(() => {
        this.#next = undefined;
        return this.#start();
      });
    return this.#next;
  }

  /** Resolves when no fsync is running or queued (whatever their outcome). */
  idle(): Promise<void> {
    const last = this.#next ?? this.#running;
    return last ? last.then(noop, noop) : Promise.resolve();
  }

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }

  #start(): Promise<void> {
    const run = new Promise<void>((resolve, reject) => {
      let fd: number;
      try {
        fd = this.#fd ??= openSync(this.path, "r");
      } catch (err) {
        reject(err);
        return;
      }
      this.fsyncFile(fd, (err) => {
        if (!err) return resolve();
        this.close();
        reject(err);
      });
    });
    this.#running = run;
    const clear = (): void => {
      if (this.#running === run) this.#running = undefined;
    };
    run.then(clear, clear);
    return run;
  }
}
