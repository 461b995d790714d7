import type { MessageList } from "../core/cursor.js";
import type { Message } from "../core/message.js";
import type { Refusal } from "../core/refusal.js";
import type { Channel } from "./channel.js";

/**
 * Where published messages are kept for catch-up (modelled on centrifuge's history streams).
 * The Broker appends messages it has sequenced; subscribers read what a channel holds and pick
 * what follows their cursor (push-stream's time/tag/event id, Bitrix's mid) with the pure
 * functions of core/cursor.ts and bitrix-push2. Implementations: in memory (MemoryHistory); the
 * message log, workers and Redis add theirs behind this interface.
 */
export interface History {
  /** Changes when stored messages were lost (a new process, a corrupt log): a cursor from an older epoch may have a gap. */
  readonly epoch: string;
  /** Keeps a sequenced message on its channel, within the channel's size and the memory budget. */
  append(channel: Channel, message: Message): void;
  /** What the channel holds now, expired messages dropped first. */
  read(channel: Channel): MessageList;
  /** How many messages the channel holds, expired ones not yet dropped included (what statistics count). */
  count(channel: Channel): number;
  /** Drops the channel's expired messages (the periodic sweep). */
  trim(channel: Channel, now: number): void;
  /** Forgets everything the channel stored (it was deleted or swept). */
  remove(channel: Channel): void;
  /** A message published but not kept (storeMessages off, push2 expiry 0): its id and stamp still count. */
  passed?(channel: Channel, message: Message): void;
  /** Calls `then(arg, failure)` once every message appended so far is as durable as this History makes it. */
  whenDurable?<T>(then: (arg: T, failure: Refusal | undefined) => void, arg: T): void;
  /** Why appends cannot be kept now (a full disk), while that lasts. */
  readonly unavailable?: Refusal | undefined;

  /** Messages stored now, the events channel's excluded. */
  readonly storedMessages: number;
  /** Body bytes of every stored message now (the events channel's included). */
  readonly storedBytes: number;
  /** Estimated memory of stored messages and channels: what sharedMemorySize caps. */
  readonly memoryUsed: number;
  /** Messages dropped because their channel's ring was full (maxMessagesStoredPerChannel). */
  readonly droppedByRing: number;
  /** Messages dropped because they expired (messageTtl, Message-Expiry). */
  readonly droppedByTtl: number;
  /** Messages evicted to stay within sharedMemorySize. */
  readonly evictedMessages: number;
}
