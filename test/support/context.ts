import { normalizeConfig, type HttpSettings, type ServerConfig } from "../../src/config/schema.js";
import { ServerMetrics, type PushContext } from "../../src/context.js";
import { TimerWheel } from "../../src/core/timer-wheel.js";
import { Logger } from "../../src/log.js";
import { T0, testStore } from "./store.js";

/** A logger that keeps its lines instead of writing them. */
export class RecordingLogger extends Logger {
  readonly lines: string[] = [];

  constructor() {
    super("silent");
  }

  override debug(message: string): void {
    this.lines.push(`debug ${message}`);
  }
  override info(message: string): void {
    this.lines.push(`info ${message}`);
  }
  override warn(message: string): void {
    this.lines.push(`warn ${message}`);
  }
  override error(message: string): void {
    this.lines.push(`error ${message}`);
  }
}

/**
 * One server's configuration from raw locations (defaults filled in as at startup; a publisher or
 * subscriber location without channelsPath reads `id=`); throws on errors.
 */
export function serverConfig(locations: Record<string, unknown>[] = [{ path: "/" }]): { http: HttpSettings; server: ServerConfig } {
  const withChannels = locations.map((l) => (l.publisher || l.subscriber) && !("channelsPath" in l) ? { channelsPath: "$arg_id", ...l } : l);
  const result = normalizeConfig({ servers: [{ listen: "127.0.0.1:0", locations: withChannels }] });
  if (!result.config) throw new Error(result.errors.join("; "));
  return { http: result.config.http, server: result.config.servers[0]! };
}

/** What handlers share, in memory and on a manual clock: no listener, no socket, no timer. */
export function testContext(http: HttpSettings = serverConfig().http) {
  const store = testStore(http);
  const log = new RecordingLogger();
  const ctx: PushContext = {
    ...store,
    http,
    wheel: new TimerWheel(100, T0),
    log,
    held: new Set(),
    draining: false,
    metrics: new ServerMetrics(),
  };
  return { ctx, clock: store.clock, log };
}
