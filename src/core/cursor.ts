import type { Message } from "./message.js";

/** A channel's stored messages, oldest first (a Ring, or what History hands out). */
export interface MessageList {
  readonly length: number;
  at(index: number): Message | undefined;
}

/**
 * Where a subscriber says it is: what it has already received. Push-stream's catch-up rules
 * (PROTOCOL.md §7): backtrack `.bN` per channel wins; otherwise the first stored message that
 * matches the Last-Event-Id (start after it) or is newer than (time, tag) (start at it).
 */
export interface Cursor {
  /** From If-Modified-Since or the configured time value, in seconds; undefined when absent. */
  time: number | undefined;
  /** From If-None-Match or the configured tag value; undefined when absent. */
  tag: number | undefined;
  /** From Last-Event-Id or the configured value; an empty string is a value. */
  lastEventId: string | undefined;
}

/** An If-None-Match style tag: optional `W/`, then digits only. Anything else is absent. */
export function parseTag(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const digits = value.length > 2 && value.startsWith("W/") ? value.slice(2) : value;
  if (digits.length === 0 || digits.length > 15 || !/^\d+$/.test(digits)) return undefined;
  return Number(digits);
}

/**
 * Index of the first stored message the subscriber has not seen, or -1 when there is none.
 * `backtrack` > 0 asks for the last N messages regardless of the cursor. Expired messages
 * (past `now`) are skipped.
 */
export function catchUpStart(messages: MessageList, backtrack: number, cursor: Cursor, now: number): number {
  const count = messages.length;
  if (count === 0) return -1;
  if (backtrack > 0) {
    const start = Math.max(0, count - backtrack);
    return firstUnexpired(messages, start, now);
  }
  const { time, tag, lastEventId } = cursor;
  if (time === undefined && lastEventId === undefined) return -1;
  for (let i = 0; i < count; i++) {
    const m = messages.at(i)!;
    if (m.expiresAt <= now) continue;
    if (lastEventId !== undefined && m.eventId === lastEventId) {
      return firstUnexpired(messages, i + 1, now);
    }
    if (time !== undefined) {
      if (m.time > time) return i;
      if (m.time === time && tag !== undefined && m.tag >= tag) {
        return m.tag === tag ? firstUnexpired(messages, i + 1, now) : i;
      }
    }
  }
  return -1;
}

function firstUnexpired(messages: MessageList, from: number, now: number): number {
  for (let i = from; i < messages.length; i++) if (messages.at(i)!.expiresAt > now) return i;
  return -1;
}

/**
 * Every stored message the subscriber has not seen, from the lists of all its channels, in
 * publish order (not push-stream's per-channel grouping: Bitrix's client takes its next cursor
 * from the last message of a reply, BITRIX.md §9). `backtracks[i]` belongs to `lists[i]`.
 */
export function collectCatchUp(lists: readonly MessageList[], backtracks: readonly number[], cursor: Cursor, now: number): Message[] {
  const result: Message[] = [];
  let sources = 0;
  for (let c = 0; c < lists.length; c++) {
    const ring = lists[c]!;
    const start = catchUpStart(ring, backtracks[c] ?? 0, cursor, now);
    if (start < 0) continue;
    sources++;
    for (let i = start; i < ring.length; i++) {
      const message = ring.at(i)!;
      if (message.expiresAt > now) result.push(message);
    }
  }
  if (sources > 1) result.sort((a, b) => a.seq - b.seq);
  return result;
}
