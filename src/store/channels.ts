import type { Clock } from "../core/clock.js";
import type { Broker } from "./broker.js";
import { ChannelStore, type StoreLimits } from "./channel-store.js";
import { EventsChannel } from "./events-channel.js";
import type { History } from "./history.js";
import { Hub } from "./hub.js";
import { LocalBroker } from "./local-broker.js";
import { MemoryHistory } from "./memory-history.js";

/** The store of one process: the channel index, History, the Hub and the Broker in front of them. */
export interface Channels {
  readonly store: ChannelStore;
  readonly history: History;
  readonly hub: Hub;
  readonly broker: Broker;
  /** The events channel (eventsChannelId), when one is named. */
  readonly events: EventsChannel | undefined;
}

/** Makes the broker over a store's parts: the in-process one by default, Redis's (redis/redis-broker.ts) to share channels with other nodes. */
export type BrokerFactory = (store: ChannelStore, history: History, hub: Hub, limits: StoreLimits, clock: Clock) => LocalBroker;

export const localBroker: BrokerFactory = (store, history, hub, limits, clock) => new LocalBroker(store, history, hub, limits, clock);

/**
 * The in-memory store, wired: History learns of new channels (their cost) and of subscriptions
 * (recency) before anyone else, then the events channel, when `eventsChannelId` names one.
 */
export function memoryChannels(limits: StoreLimits, clock: Clock, eventsChannelId = "", makeBroker = localBroker): Channels & { history: MemoryHistory; memory: MemoryHistory } {
  const store = new ChannelStore(limits, clock);
  const history = new MemoryHistory(limits, clock);
  const hub = new Hub(limits, clock);
  store.observers.push(history);
  hub.observers.push(history);
  const broker = makeBroker(store, history, hub, limits, clock);
  let events: EventsChannel | undefined;
  if (eventsChannelId) {
    events = new EventsChannel(store, broker, eventsChannelId);
    store.observers.push(events);
    hub.observers.push(events);
  }
  return { store, history, memory: history, hub, broker, events };
}
