/**
 * One hashed timer wheel for every hold, ping and expiry in the server: O(1) schedule and
 * cancel, no timer object per connection. Entries are intrusive (the wheel links the entry
 * objects themselves), so scheduling allocates nothing.
 *
 * The wheel is pure: something outside calls `advance(now)` on a regular tick.
 * A deadline further away than one turn of the wheel simply stays in its slot for more turns.
 */
/** wheelSlot of an entry taken off the wheel by advance() and about to fire. */
const FIRING = -2;

export interface WheelEntry {
  wheelDeadline: number;
  wheelNext: WheelEntry | null;
  wheelPrev: WheelEntry | null;
  /** The slot the entry is linked in, or -1 when it is not scheduled. */
  wheelSlot: number;
  /** Called once when the deadline has passed; the entry is already unlinked. */
  onWheelExpire(): void;
}

export class TimerWheel {
  private readonly slots: (WheelEntry | null)[];
  private lastTick: number;
  private scheduled = 0;

  constructor(
    readonly tickMs: number,
    start: number,
    readonly slotCount = 1024,
  ) {
    this.slots = new Array(slotCount).fill(null);
    this.lastTick = Math.floor(start / tickMs);
  }

  /** How many entries are waiting. */
  get size(): number {
    return this.scheduled;
  }

  /** Schedules (or moves) an entry to fire at `deadline` (ms). */
  schedule(entry: WheelEntry, deadline: number): void {
    this.cancel(entry);
    entry.wheelDeadline = deadline;
    // The first tick at or after the deadline, so that visiting the slot finds it due; never behind
    // the cursor, where it would wait a whole turn.
    const tick = Math.max(Math.ceil(deadline / this.tickMs), this.lastTick + 1);
    const slot = tick % this.slotCount;
    entry.wheelSlot = slot;
    const head = this.slots[slot]!;
    entry.wheelPrev = null;
    entry.wheelNext = head;
    if (head) head.wheelPrev = entry;
    this.slots[slot] = entry;
    this.scheduled++;
  }

  isScheduled(entry: WheelEntry): boolean {
    return entry.wheelSlot >= 0;
  }

  cancel(entry: WheelEntry): void {
    if (entry.wheelSlot === FIRING) {
      entry.wheelSlot = -1; // due in this advance, but cancelled by an earlier callback
      return;
    }
    if (entry.wheelSlot < 0) return;
    this.unlink(entry);
  }

  /** Fires every entry whose deadline is at or before `now`. Returns how many fired. */
  advance(now: number): number {
    const target = Math.floor(now / this.tickMs);
    if (target <= this.lastTick) return 0;
    const due: WheelEntry[] = [];
    const turns = Math.min(target - this.lastTick, this.slotCount);
    for (let i = 1; i <= turns; i++) {
      const slot = (this.lastTick + i) % this.slotCount;
      let entry = this.slots[slot]!;
      while (entry) {
        const next = entry.wheelNext;
        if (entry.wheelDeadline <= now) {
          this.unlink(entry);
          entry.wheelSlot = FIRING;
          due.push(entry);
        }
        entry = next!;
      }
    }
    this.lastTick = target;
    let fired = 0;
    let failure: unknown;
    for (const entry of due) {
      // A callback may have cancelled or rescheduled a later entry of this batch.
      if (entry.wheelSlot !== FIRING) continue;
      entry.wheelSlot = -1;
      fired++;
      try {
        entry.onWheelExpire();
      } catch (error) {
        failure ??= error; // the other entries still fire; the caller hears of the first failure
      }
    }
    if (failure !== undefined) throw failure;
    return fired;
  }

  private unlink(entry: WheelEntry): void {
    if (entry.wheelPrev) entry.wheelPrev.wheelNext = entry.wheelNext;
    else this.slots[entry.wheelSlot] = entry.wheelNext;
    if (entry.wheelNext) entry.wheelNext.wheelPrev = entry.wheelPrev;
    entry.wheelNext = entry.wheelPrev = null;
    entry.wheelSlot = -1;
    this.scheduled--;
  }
}
