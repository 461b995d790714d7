import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import type { Clock } from "../core/clock.js";
import { Refusal } from "../core/refusal.js";
import type { Logger } from "../log.js";
import type { Channel } from "../store/channel.js";
import { ChannelStore, type StoreLimits } from "../store/channel-store.js";
import type { Channels } from "../store/channels.js";
import { EventsChannel } from "../store/events-channel.js";
import { Hub } from "../store/hub.js";
import { localBroker, type BrokerFactory } from "../store/channels.js";
import type { LocalBroker } from "../store/local-broker.js";
import { MemoryHistory } from "../store/memory-history.js";
import { lockDirectory } from "./log-files.js";
import type { RecordReader } from "./record.js";
import { LogHistory } from "./log-history.js";
import { MessageLog, type MessageLogSettings } from "./message-log.js";
import { replayLog, type ReplayReport, type ReplayTarget } from "./replay.js";

/** What the start-up line reports. */
export interface Restored {
  channels: number;
  messages: number;
  /** Messages in the log that had expired by now. */
  expired: number;
  /** Channels the store's caps refused (maxNumberOfChannels lowered since). */
  refusedChannels: number;
  seconds: number;
  report: ReplayReport;
}

/**
 * The store of one process with the message log under its History: the directory is locked,
 * replayed into the channel index and the memory rings (before any listener opens, and before
 * the events channel exists, so replay announces nothing), the sequencer continues above every
 * logged stamp, and from then on every change is appended.
 */
export function loggedChannels(
  limits: StoreLimits,
  clock: Clock,
  eventsChannelId: string,
  settings: MessageLogSettings,
  log: Logger,
  makeBroker: BrokerFactory = localBroker,
): Channels & { history: LogHistory; memory: MemoryHistory; broker: LocalBroker; messageLog: MessageLog; restored: Restored } {
  mkdirSync(settings.path, { recursive: true });
  lockDirectory(settings.path);
  const store = new ChannelStore(limits, clock);
  const memory = new MemoryHistory(limits, clock);
  const hub = new Hub(limits, clock);
  store.observers.push(memory);
  hub.observers.push(memory);

  const started = performance.now();
  const target = new StoreReplay(store, memory, clock.now());
  const report = replayLog(settings.path, target, settings.segmentSize);
  const seconds = (performance.now() - started) / 1000;

  let sequencer: LocalBroker["sequencer"] | undefined;
  const messageLog = new MessageLog(settings, report.epoch ?? newEpoch(clock), report.nextSegment, log, {
    channels: () => {
      const live: Channel[] = [];
      for (const channel of store.all()) if (!channel.forEvents) live.push(channel);
      return live;
    },
    clock: () => {
      const { publishClock, mids } = sequencer!;
      return { time: publishClock.time, tag: publishClock.tag, seq: publishClock.seq, mid: mids.last };
    },
  });
  messageLog.replaySeconds = seconds;
  const history = new LogHistory(memory, messageLog);
  const broker = makeBroker(store, history, hub, limits, clock);
  sequencer = broker.sequencer;
  sequencer.continueAfter(report.last, clock.now());

  let events: EventsChannel | undefined;
  if (eventsChannelId) {
    events = new EventsChannel(store, broker, eventsChannelId);
    store.observers.push(events);
    hub.observers.push(events);
  }
  const restored: Restored = {
    channels: store.channelCount - (events ? 1 : 0),
    messages: memory.storedMessages,
    expired: target.expired,
    refusedChannels: target.refused,
    seconds,
    report,
  };
  return { store, history, memory, hub, broker, events, messageLog, restored };
}

/** A new epoch: distinct from every earlier one of this log, even one begun in the same millisecond. */
function newEpoch(clock: Clock): string {
  return `${clock.now().toString(36)}.${randomBytes(3).toString("hex")}`;
}

/** Applies replayed records to the channel index and the memory rings, as the live code would have. */
class StoreReplay implements ReplayTarget {
  expired = 0;
  refused = 0;

  constructor(
    private readonly store: ChannelStore,
    private readonly memory: MemoryHistory,
    private readonly now: number,
  ) {}

  message(record: RecordReader): void {
    const channel = this.channelFor(record.text, record.id);
    if (!channel) return;
    // Built only when kept, with the channel's own id string (not one copy per message).
    if (record.expiresAt > this.now) this.memory.append(channel, record.message(channel.id));
    else this.expired++;
  }

  passed(id: string, messageId: number): void {
    this.channelFor(id, messageId);
  }

  drop(id: string): void {
    const channel = this.store.find(id);
    if (!channel) return;
    this.store.remove(channel);
    this.memory.remove(channel);
    this.store.destroyed(channel);
  }

  channel(id: string, lastMessageId: number): void {
    this.channelFor(id, lastMessageId);
  }

  private channelFor(id: string, messageId: number): Channel | undefined {
    const channel = this.store.obtain(id);
    if (channel instanceof Refusal) {
      this.refused++;
      return undefined;
    }
    if (messageId > channel.lastMessageId) channel.lastMessageId = messageId;
    return channel;
  }
}
