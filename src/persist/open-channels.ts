import type { PushwireConfig } from "../config/schema.js";
import type { Clock } from "../core/clock.js";
import type { Logger } from "../log.js";
import { localBroker, memoryChannels, type BrokerFactory, type Channels } from "../store/channels.js";
import type { MemoryHistory } from "../store/memory-history.js";
import { MessageLogError } from "./log-files.js";
import { loggedChannels, type Restored } from "./logged-channels.js";
import type { MessageLog } from "./message-log.js";

/** A process's store as opened: the memory rings under History, and the log with what it restored, when there is one. */
export type OpenedChannels = Channels & { memory: MemoryHistory; messageLog?: MessageLog; restored?: Restored };

/**
 * The store: over the message log when one is configured (replayed here, before any listener), in
 * memory otherwise; its broker made by `makeBroker` (the in-process one unless Redis is configured).
 */
export function openChannels(config: PushwireConfig, clock: Clock, log: Logger, compactMinBytes: number | undefined, makeBroker: BrokerFactory = localBroker): OpenedChannels {
  const { http, messageLog } = config;
  if (!messageLog) return memoryChannels(http, clock, http.eventsChannelId, makeBroker);
  try {
    return loggedChannels(http, clock, http.eventsChannelId, { ...messageLog, compactMinBytes }, log, makeBroker);
  } catch (error) {
    throw error instanceof MessageLogError ? error : new MessageLogError(`message log ${messageLog.path}: ${(error as Error).message}`);
  }
}


/** The message log's upkeep, each sweep: retry a failed write, compact when it outgrew the live data. */
export function keepLog({ messageLog, history, store }: Channels & { messageLog?: MessageLog | undefined }): void {
  if (!messageLog || !messageLog.retry()) return;
  // What a snapshot of the live data would take: bodies plus a record's fields, channels' records.
  messageLog.maybeCompact(history.storedBytes + history.storedMessages * 64 + store.channelCount * 48);
}
