import type { MessageList } from "../core/cursor.js";
import type { Message } from "../core/message.js";
import type { Refusal } from "../core/refusal.js";
import type { Channel } from "../store/channel.js";
import type { History } from "../store/history.js";
import type { MemoryHistory } from "../store/memory-history.js";
import type { DurableCallback, MessageLog } from "./message-log.js";

/**
 * History kept in memory and in the message log: reads are served from memory (the rings), and
 * every change a restart must see — a stored message, a passed one's counters, a channel leaving
 * — is also appended to the log. The events channel is not logged: it describes this process.
 */
export class LogHistory implements History {
  constructor(
    readonly memory: MemoryHistory,
    readonly log: MessageLog,
  ) {}

  get epoch(): string {
    return this.log.epoch;
  }

  append(channel: Channel, message: Message): void {
    this.memory.append(channel, message);
    if (channel.forEvents) return;
    this.log.records.message(message);
    this.log.changed();
  }

  passed(channel: Channel, message: Message): void {
    if (channel.forEvents) return;
    this.log.records.sequenced(message);
    this.log.changed();
  }

  read(channel: Channel): MessageList {
    return this.memory.read(channel);
  }

  count(channel: Channel): number {
    return this.memory.count(channel);
  }

  trim(channel: Channel, now: number): void {
    this.memory.trim(channel, now);
  }

  remove(channel: Channel): void {
    this.memory.remove(channel);
    if (channel.forEvents) return;
    this.log.records.drop(channel.id);
    this.log.changed();
  }

  whenDurable<T>(then: DurableCallback<T>, arg: T): void {
    this.log.whenDurable(then, arg);
  }

  get unavailable(): Refusal | undefined {
    return this.log.failure;
  }

  get storedMessages(): number {
    return this.memory.storedMessages;
  }
  get storedBytes(): number {
    return this.memory.storedBytes;
  }
  get memoryUsed(): number {
    return this.memory.memoryUsed;
  }
  get droppedByRing(): number {
    return this.memory.droppedByRing;
  }
  get droppedByTtl(): number {
    return this.memory.droppedByTtl;
  }
  get evictedMessages(): number {
    return this.memory.evictedMessages;
  }
}
