import type { Clock } from "../core/clock.js";
import type { Logger } from "../log.js";
import type { StoreObserver } from "../store/observer.js";

/** At most one warning per this many ms, however often the budget is hit. */
const WARN_EVERY_MS = 60_000;

/**
 * Warns that sharedMemorySize was reached and stored messages are being evicted, at most once a
 * minute, with how many went since the last warning.
 */
export class EvictionLog implements StoreObserver {
  private lastWarning = -Infinity;
  private unreported = 0;

  constructor(
    private readonly log: Logger,
    private readonly clock: Clock,
    private readonly budget: number,
  ) {}

  messagesEvicted(count: number): void {
    this.unreported += count;
    const now = this.clock.now();
    if (now - this.lastWarning < WARN_EVERY_MS) return;
    this.lastWarning = now;
    this.log.warn(`sharedMemorySize ${this.budget} bytes reached: evicted ${this.unreported} oldest stored messages of least recently used channels (publishes and subscriptions go on)`);
    this.unreported = 0;
  }
}
