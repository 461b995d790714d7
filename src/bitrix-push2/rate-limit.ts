/**
 * Requests per second per client address, in fixed one-second windows: the browsers' publishing
 * path is untrusted, so one address cannot flood every subscriber. Pure (the caller passes the time).
 */
export class RateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(readonly perSecond: number) {}

  /** Addresses with a window held now: bounded, as old windows are pruned past 10 000. */
  get trackedAddresses(): number {
    return this.windows.size;
  }

  allow(address: string, now: number): boolean {
    if (this.perSecond <= 0) return true;
    const window = this.windows.get(address);
    if (!window || now - window.start >= 1000) {
      if (this.windows.size >= 10_000) this.prune(now);
      this.windows.set(address, { start: now, count: 1 });
      return true;
    }
    return ++window.count <= this.perSecond;
  }

  private prune(now: number): void {
    for (const [address, window] of this.windows) if (now - window.start >= 1000) this.windows.delete(address);
  }
}
