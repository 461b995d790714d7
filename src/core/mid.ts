/**
 * Message ids of Push server 2.0 (BITRIX.md §5): the server's start second (10 digits) followed
 * by a 16-digit counter, 26 decimal digits in all, carried as 13 bytes (the digits read as hex).
 * Ids of one server are totally ordered; as strings or as bytes they compare the same way.
 * A restart starts a later second, so ids keep growing across restarts a second apart.
 */
const MID_DIGITS = /^\d{26}$/;

export class MidClock {
  private prefix: string;
  private counter = 0;
  /** The last id handed out. */
  last: Buffer | undefined;

  constructor(startSecond: number) {
    this.prefix = String(Math.floor(startSecond)).padStart(10, "0").slice(-10);
  }

  /** The next id, as 13 bytes. */
  next(): Buffer {
    this.counter++;
    return (this.last = Buffer.from(this.prefix + String(this.counter).padStart(16, "0"), "hex"));
  }

  /**
   * Continues above an id a previous process handed out (the message log's replay): a start
   * second at or below that id's moves past it, so even ids that were sent but never logged
   * stay below every new one.
   */
  continueAbove(mid: Uint8Array): void {
    const logged = Number(midText(mid).slice(0, 10));
    this.last = Buffer.from(mid);
    if (logged < Number(this.prefix)) return;
    this.prefix = String(logged + 1).padStart(10, "0").slice(-10);
    this.counter = 0;
  }
}

/** The 26-digit text of a 13-byte id (what the SDK calls `mid`). */
export function midText(mid: Uint8Array): string {
  return Buffer.from(mid.buffer, mid.byteOffset, mid.byteLength).toString("hex");
}

/** The 13 bytes of a `mid=` argument, or undefined when it is not 26 decimal digits. */
export function parseMid(text: string | undefined): Buffer | undefined {
  if (!text || !MID_DIGITS.test(text)) return undefined;
  return Buffer.from(text, "hex");
}

/** The counter part of an id (digits 11–26) as a number: text mode's `id`. */
export function midCounter(mid: Uint8Array): number {
  return Number(midText(mid).slice(10));
}
