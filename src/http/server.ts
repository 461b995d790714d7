import { createServer, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { PushwireConfig, ServerConfig } from "../config/schema.js";
import { ChannelStore } from "../core/channel-store.js";
import { systemClock, type Clock } from "../core/clock.js";
import { TimerWheel } from "../core/timer-wheel.js";
import { Logger } from "../log.js";
import type { PushContext } from "./context.js";
import { PushResponse } from "./push-response.js";
import { Router } from "./router.js";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { EventsChannel } from "../core/events-channel.js";
import { EvictionLog } from "./eviction-log.js";
import { ServerMetrics } from "./server-metrics.js";

export interface StartOptions {
  clock?: Clock;
  log?: Logger;
  /** Timer wheel resolution; holds end within one tick of their deadline. */
  tickMs?: number;
  /** How often expired messages and inactive channels are swept. */
  sweepMs?: number;
}

export interface Listener {
  config: ServerConfig;
  server: Server;
  /** The bound address (port resolved when the config said 0). */
  address: AddressInfo;
}

/** Idle keep-alive connections are closed after this (nginx's keepalive_timeout default is 75 s). */
const KEEP_ALIVE_MS = 75_000;
const HEADERS_TIMEOUT_MS = 30_000;

/** A running pushwire: its listeners, its shared context, and a graceful stop. */
export class PushServer {
  readonly ctx: PushContext;
  readonly listeners: Listener[] = [];
  private readonly tick: NodeJS.Timeout;
  private readonly sweeper: NodeJS.Timeout;

  private constructor(readonly config: PushwireConfig, options: StartOptions) {
    const clock = options.clock ?? systemClock;
    const tickMs = options.tickMs ?? 100;
    const store = new ChannelStore(config.http, clock);
    const log = options.log ?? new Logger("info");
    const events = config.http.eventsChannelId ? new EventsChannel(store, config.http.eventsChannelId) : undefined;
    if (events) store.observers.push(events);
    if (config.http.sharedMemorySize) store.observers.push(new EvictionLog(log, clock, config.http.sharedMemorySize));
    this.ctx = {
      http: config.http,
      store,
      wheel: new TimerWheel(tickMs, clock.now()),
      clock,
      log,
      held: new Set(),
      draining: false,
      metrics: new ServerMetrics(),
      events,
    };
    if (config.servers.some((server) => server.locations.some((location) => location.metrics))) {
      this.ctx.metrics.loopDelay = monitorEventLoopDelay({ resolution: 10 });
      this.ctx.metrics.loopDelay.enable();
    }
    this.tick = setInterval(() => this.guard("timer", () => this.ctx.wheel.advance(clock.now())), tickMs);
    this.sweeper = setInterval(() => this.guard("sweep", () => this.ctx.store.sweep()), options.sweepMs ?? 1000);
  }

  /** Runs periodic work; a failure is logged, never fatal. */
  private guard(what: string, work: () => unknown): void {
    try {
      work();
    } catch (error) {
      this.ctx.log.error(`${what}: ${(error as Error).stack ?? error}`);
    }
  }

  /** Starts every listener of the configuration; rejects (and closes what opened) if one fails. */
  static async start(config: PushwireConfig, options: StartOptions = {}): Promise<PushServer> {
    const push = new PushServer(config, options);
    try {
      for (const serverConfig of config.servers) await push.listen(serverConfig);
    } catch (error) {
      await push.close(0);
      throw error;
    }
    return push;
  }

  private listen(serverConfig: ServerConfig): Promise<void> {
    const router = new Router(this.ctx, serverConfig);
    const server = createServer({
      ServerResponse: PushResponse,
      maxHeaderSize: this.ctx.http.clientMaxHeaderSize,
      keepAliveTimeout: KEEP_ALIVE_MS,
      headersTimeout: HEADERS_TIMEOUT_MS,
      requestTimeout: 0, // holds are timed by the wheel
      requireHostHeader: false, // the router answers it, with an explain header
    }, router.dispatch);
    server.on("clientError", (error: NodeJS.ErrnoException, socket: Socket) => answerClientError(error, socket, this.ctx.metrics));
    server.on("upgrade", router.upgrade);
    const { host, port } = serverConfig.listen;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host, port }, () => {
        server.off("error", reject);
        server.on("error", (error) => this.ctx.log.error(`listener ${host ?? "*"}:${port}: ${error.message}`));
        this.listeners.push({ config: serverConfig, server, address: server.address() as AddressInfo });
        resolve();
      });
    });
  }

  /**
   * Graceful stop: no new connections, every held subscriber gets its timeout answer (304),
   * idle keep-alive connections close; whatever is still open after `graceMs` is cut.
   */
  async close(graceMs = 5000): Promise<void> {
    const { ctx } = this;
    ctx.draining = true;
    ctx.metrics.loopDelay?.disable();
    clearInterval(this.tick);
    clearInterval(this.sweeper);
    const closed = this.listeners.map(({ server }) => new Promise<void>((resolve) => server.close(() => resolve())));
    for (const held of [...ctx.held]) held.shutdown();
    for (const { server } of this.listeners) server.closeIdleConnections();
    const force = setTimeout(() => {
      for (const { server } of this.listeners) server.closeAllConnections();
    }, graceMs);
    await Promise.all(closed);
    clearTimeout(force);
  }
}

/**
 * A request node:http could not parse. Answer as an HTTP server should, with the reason,
 * and close; nothing else is affected.
 */
function answerClientError(error: NodeJS.ErrnoException, socket: Socket, metrics: ServerMetrics): void {
  if (!socket.writable || (error as { bytesParsed?: number }).bytesParsed === 0 && error.code === "ECONNRESET") {
    socket.destroy();
    return;
  }
  const [status, reason, explain] = clientErrorAnswer(error);
  metrics.countRejected(status);
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Length: 0\r\nConnection: close\r\nX-Nginx-PushStream-Explain: ${explain}\r\n\r\n`);
}

/** A request line with a method token we do not know (`FOO / HTTP/1.1`), as opposed to garbage. */
const UNKNOWN_METHOD_LINE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+ \S+ HTTP\/\d\.\d\r?$/;

function clientErrorAnswer(error: NodeJS.ErrnoException & { rawPacket?: Buffer }): [number, string, string] {
  let code = error.code;
  if (code === "HPE_INVALID_METHOD") {
    const firstLine = error.rawPacket?.toString("latin1").split("\n", 1)[0] ?? "";
    if (!UNKNOWN_METHOD_LINE.test(firstLine)) code = "HPE_INVALID";
  }
  switch (code) {
    case "HPE_HEADER_OVERFLOW":
      return [431, "Request Header Fields Too Large", "Request line and headers are larger than clientMaxHeaderSize."];
    case "HPE_INVALID_METHOD":
      return [405, "Method Not Allowed", "Unknown request method."];
    case "ERR_HTTP_REQUEST_TIMEOUT":
    case "HPE_HEADERS_TIMEOUT":
      return [408, "Request Timeout", "Request headers did not arrive in time."];
    default:
      return [400, "Bad Request", "Malformed HTTP request."];
  }
}
