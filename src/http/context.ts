import type { HttpSettings } from "../config/schema.js";
import type { ChannelStore } from "../core/channel-store.js";
import type { Clock } from "../core/clock.js";
import type { TimerWheel } from "../core/timer-wheel.js";
import type { Logger } from "../log.js";
import type { EventsChannel } from "../core/events-channel.js";
import type { ServerMetrics } from "./server-metrics.js";

/** A connection held open by the server (a waiting long-poll…), ended on shutdown. */
export interface Held {
  /** The subscriber mode holding it ("long-polling", …): /metrics counts held connections by it. */
  readonly mode: string;
  /** Ends the connection the way a timeout would (long-poll: 304). */
  shutdown(): void;
  /** The client went away: forget the connection without answering. */
  abort(): void;
}

/** What every handler shares: the store, the one timer wheel, the clock and the log. */
export interface PushContext {
  readonly http: HttpSettings;
  readonly store: ChannelStore;
  readonly wheel: TimerWheel;
  readonly clock: Clock;
  readonly log: Logger;
  readonly held: Set<Held>;
  draining: boolean;
  /** Traffic counters for /metrics; transports bump them. */
  readonly metrics: ServerMetrics;
  /** The events channel (eventsChannelId), when configured. */
  readonly events: EventsChannel | undefined;
}
