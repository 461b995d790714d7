/**
 * A FIFO ring buffer with an optional capacity. When full, pushing drops the oldest item.
 *
 * Storage grows by doubling up to the capacity, so 100k channels holding a message or two
 * each do not pay for 1000 slots apiece. All operations are O(1) (push amortised).
 */
export class Ring<T> {
  private items: (T | undefined)[];
  private head = 0;
  private count = 0;

  /** @param capacity maximum number of items kept; 0 means unbounded. */
  constructor(readonly capacity = 0, initialSlots = 4) {
    const slots = capacity > 0 ? Math.min(capacity, initialSlots) : initialSlots;
    this.items = new Array(Math.max(1, slots));
  }

  get length(): number {
    return this.count;
  }

  /** Appends an item; returns the item dropped to make room, if any. */
  push(item: T): T | undefined {
    let dropped: T | undefined;
    if (this.count === this.items.length) {
      if (this.capacity > 0 && this.count >= this.capacity) {
        dropped = this.shift();
      } else {
        this.grow();
      }
    }
    this.items[(this.head + this.count) % this.items.length] = item;
    this.count++;
    return dropped;
  }

  /** Removes and returns the oldest item. */
  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.items.length;
    this.count--;
    return item;
  }

  /** The i-th item counted from the oldest (0) to the newest (length - 1). */
  at(index: number): T | undefined {
    if (index < 0 || index >= this.count) return undefined;
    return this.items[(this.head + index) % this.items.length];
  }

  first(): T | undefined {
    return this.at(0);
  }

  last(): T | undefined {
    return this.at(this.count - 1);
  }

  /** Removes every item for which `drop` is true, keeping the order of the rest; returns how many. */
  removeWhere(drop: (item: T) => boolean): number {
    let kept = 0;
    const size = this.items.length;
    for (let i = 0; i < this.count; i++) {
      const item = this.items[(this.head + i) % size] as T;
      if (!drop(item)) this.items[(this.head + kept++) % size] = item;
    }
    for (let i = kept; i < this.count; i++) this.items[(this.head + i) % size] = undefined;
    const removed = this.count - kept;
    this.count = kept;
    return removed;
  }

  clear(): void {
    this.items = new Array(this.capacity > 0 ? Math.min(this.capacity, 4) : 4);
    this.head = 0;
    this.count = 0;
  }

  private grow(): void {
    const size = this.items.length;
    let next = size * 2;
    if (this.capacity > 0) next = Math.min(next, this.capacity);
    const items: (T | undefined)[] = new Array(next);
    for (let i = 0; i < this.count; i++) items[i] = this.items[(this.head + i) % size];
    this.items = items;
    this.head = 0;
  }
}
