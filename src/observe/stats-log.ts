import type { PushContext } from "../context.js";
import type { Logger } from "../log.js";

/**
 * The periodic `stats` log line (`logStatsInterval`, default 60 s): open connections, held
 * subscribers, channels, stored messages, subscriptions, messages published in total and per
 * second since the previous line. One timer for the process; a reload may change the interval.
 */
export class StatsLog {
  private timer: NodeJS.Timeout | undefined;
  private intervalSeconds = 0;
  private lastPublished: number;
  private lastAt: number;

  constructor(
    private readonly ctx: PushContext,
    /** Open client connections over all listeners. */
    private readonly connections: () => number,
    private readonly log: Logger,
  ) {
    this.lastPublished = ctx.broker.publishedMessages;
    this.lastAt = ctx.clock.now();
  }

  /** (Re)starts the timer; 0 stops it. */
  every(seconds: number): void {
    if (seconds === this.intervalSeconds && this.timer) return;
    this.stop();
    this.intervalSeconds = seconds;
    if (seconds > 0) {
      this.timer = setInterval(() => this.log.info(this.line()), seconds * 1000);
      this.timer.unref();
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** `stats connections=… held=… channels=… messages=… subscribers=… published=… published/s=…` */
  line(): string {
    const { store, history, hub, broker, held, clock } = this.ctx;
    const now = clock.now();
    const published = broker.publishedMessages;
    const seconds = (now - this.lastAt) / 1000;
    const rate = seconds > 0 ? (published - this.lastPublished) / seconds : 0;
    this.lastPublished = published;
    this.lastAt = now;
    return `stats connections=${this.connections()} held=${held.size} channels=${store.channelCount}`
      + ` wildcard_channels=${store.wildcardChannelCount} messages=${history.storedMessages} subscribers=${hub.subscriptions}`
      + ` published=${published} published/s=${rate.toFixed(1)}${this.logPart()}`;
  }

  /** ` log_bytes=… log_segments=…` (and `log=failed`) when a message log is kept. */
  private logPart(): string {
    const log = this.ctx.messageLog;
    if (!log) return "";
    return ` log_bytes=${log.logBytes} log_segments=${log.segments}${log.failure ? " log=failed" : ""}`;
  }
}
