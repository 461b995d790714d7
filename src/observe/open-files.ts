import { readdirSync, readFileSync } from "node:fs";
import type { OpenFilesView } from "../context.js";
import type { Clock } from "../core/clock.js";
import type { Logger } from "../log.js";

/** At most one warning per this many ms while the limit lasts. */
const WARN_EVERY_MS = 60_000;
/** Within this many descriptors of the limit, the periodic check counts the real ones. */
const NEAR_LIMIT = 16;

/**
 * The soft open-file limit (`ulimit -n`, systemd's LimitNOFILE) from the text of
 * /proc/self/limits; undefined when it is not there or "unlimited".
 */
export function parseOpenFileLimit(limits: string): number | undefined {
  const soft = /^Max open files\s+(\d+)\s/m.exec(limits)?.[1];
  return soft === undefined ? undefined : Number(soft);
}

/** The soft open-file limit of this process, where the system says (Linux); undefined elsewhere. */
export function readOpenFileLimit(): number | undefined {
  try {
    return parseOpenFileLimit(readFileSync("/proc/self/limits", "latin1"));
  } catch {
    return undefined;
  }
}

/** Whether an error says the process (EMFILE) or the system (ENFILE) is out of file descriptors. */
export function isOutOfDescriptors(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === "EMFILE" || code === "ENFILE";
}

/**
 * Descriptors of this process numbered under `limit` (Linux; the limit bounds the numbers, and an
 * inherited descriptor above it takes no place under it); "none left" when even the count cannot
 * open its directory.
 */
function countOpenFiles(limit: number): number | "none left" | undefined {
  try {
    let count = -1; // the directory being read takes one
    for (const name of readdirSync("/proc/self/fd")) if (Number(name) < limit) count++;
    return count;
  } catch (error) {
    return isOutOfDescriptors(error) ? "none left" : undefined;
  }
}

/**
 * The process's descriptors against its open-file limit. At the limit the runtime accepts and
 * closes new connections itself, unanswered and unseen; this makes it visible. In use = the
 * descriptors that are not client connections (counted at start and near the limit) + the open
 * connections: checked on each accept, recounted every second near the limit. Reaching the limit
 * (or an EMFILE/ENFILE that surfaces) is counted, warned about once a minute while it lasts, and
 * its end logged.
 */
export class OpenFiles implements OpenFilesView {
  exhausted = false;
  /** Times the limit was reached, plus EMFILE/ENFILE errors reported by a listener. */
  exhaustedTotal = 0;
  private inUseNow: number;
  /** Descriptors that are not client connections (listeners, stdio, the runtime's own). */
  private others: number;
  private lastWarning = -Infinity;

  constructor(
    private readonly log: Logger,
    private readonly clock: Clock,
    readonly limit: number | undefined = readOpenFileLimit(),
  ) {
    const counted = limit === undefined ? undefined : countOpenFiles(limit);
    this.others = typeof counted === "number" ? counted : 0;
    this.inUseNow = this.others;
  }

  get inUse(): number {
    return this.inUseNow;
  }

  /** A connection was accepted: `connections` are open now. */
  accepted(connections: number): void {
    const { limit } = this;
    if (limit === undefined) return;
    this.inUseNow = this.others + connections;
    if (this.inUseNow >= limit && !this.exhausted) this.reached(connections);
  }

  /** Every second: a real count near the limit; warns while the limit lasts, says when it ended. */
  check(connections: number): void {
    const { limit } = this;
    if (limit === undefined) return;
    let inUse = this.others + connections;
    if (inUse >= limit - NEAR_LIMIT || this.exhausted) {
      const counted = countOpenFiles(limit);
      if (counted === "none left") inUse = limit;
      else if (counted !== undefined) {
        inUse = counted;
        this.others = Math.max(0, counted - connections);
      }
    }
    this.inUseNow = inUse;
    if (inUse >= limit) {
      if (!this.exhausted) return this.reached(connections);
      if (this.clock.now() - this.lastWarning >= WARN_EVERY_MS) this.warn(connections);
    } else if (this.exhausted) {
      this.exhausted = false;
      this.log.info(`open files back under the limit: ${inUse} of ${limit} in use, ${connections} connections`);
    }
  }

  /** A listener reported EMFILE/ENFILE. */
  refused(connections: number, error: Error): void {
    this.exhaustedTotal++;
    this.inUseNow = this.limit ?? this.inUseNow;
    if (!this.exhausted) {
      this.exhausted = true;
      this.warn(connections, error.message);
    } else if (this.clock.now() - this.lastWarning >= WARN_EVERY_MS) this.warn(connections, error.message);
  }

  private reached(connections: number): void {
    this.exhausted = true;
    this.exhaustedTotal++;
    this.warn(connections);
  }

  private warn(connections: number, cause?: string): void {
    const now = this.clock.now();
    if (now - this.lastWarning < WARN_EVERY_MS) return;
    this.lastWarning = now;
    this.log.warn(`open-file limit reached: ${this.inUseNow} of ${this.limit ?? "unknown"} descriptors in use, ${connections} connections`
      + `${cause ? ` (${cause})` : ""}; new connections are closed unanswered until some close (raise LimitNOFILE or ulimit -n)`);
  }
}
