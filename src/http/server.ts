import { createServer, type IncomingMessage, type Server, type ServerOptions, type ServerResponse } from "node:http";
import { createServer as createTlsServer, type Server as TlsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { HttpSettings, PushwireConfig, ServerConfig } from "../config/schema.js";
import { sameSsl } from "../config/ssl.js";
import { ChannelStore } from "../core/channel-store.js";
import { systemClock, type Clock } from "../core/clock.js";
import { TimerWheel } from "../core/timer-wheel.js";
import { Logger } from "../log.js";
import { logAccess } from "./access-log.js";
import type { PushContext } from "./context.js";
import { PushResponse } from "./push-response.js";
import { Router } from "./router.js";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { EventsChannel } from "../core/events-channel.js";
import { EvictionLog } from "./eviction-log.js";
import { ServerMetrics } from "./server-metrics.js";
import { createLeanServer, isLeanServer } from "./lean-server.js";

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
  /** This listener's locations; a reload swaps it, requests already routed keep theirs. */
  router: Router;
}

/** What a reload changed, one phrase per change, for the log. */
export interface ReloadReport {
  changes: string[];
  /** http-level keys whose new value needs a restart (the old value stays in force). */
  needRestart: string[];
}

/**
 * http-level keys a reload cannot apply to a running server: the parser's header limit is fixed
 * per node server, ring capacity per existing channel, and the wildcard prefix decides how
 * existing channels were counted. Every other http-level key applies from the next request.
 */
export const RESTART_KEYS: readonly (keyof HttpSettings)[] = ["clientMaxHeaderSize", "maxMessagesStoredPerChannel", "wildcardChannelPrefix", "eventsChannelId", "subscriberParser"];

/** "127.0.0.1:8895", "*:8893": how listeners are told apart across a reload. */
export function listenKey(config: ServerConfig): string {
  return `${config.listen.host ?? "*"}:${config.listen.port}`;
}

/** Idle keep-alive connections are closed after this (nginx's keepalive_timeout default is 75 s). */
const KEEP_ALIVE_MS = 75_000;
const HEADERS_TIMEOUT_MS = 30_000;

/** A running pushwire: its listeners, its shared context, and a graceful stop. */
export class PushServer {
  readonly ctx: PushContext;
  readonly listeners: Listener[] = [];
  /** Open client connections over all listeners (TCP, before any TLS handshake). */
  connections = 0;
  private readonly tick: NodeJS.Timeout;
  private readonly sweeper: NodeJS.Timeout;
  /** Servers that stopped listening but still carry connections (Bun's certificate reload). */
  private readonly retired = new Set<Server>();
  private readonly connectionClosed = (): void => {
    this.connections--;
  };
  private readonly connectionOpened = (socket: Socket): void => {
    this.connections++;
    socket.once("close", this.connectionClosed);
  };

  private constructor(public config: PushwireConfig, options: StartOptions) {
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

  /**
   * The node server for one ServerConfig — node:http, or node:https when it has `ssl` — with every
   * handler pushwire attaches to a server. The one place a server is made.
   */
  private createNodeServer(listener: Pick<Listener, "router">, serverConfig: ServerConfig): Server {
    const options: ServerOptions = {
      ServerResponse: PushResponse,
      maxHeaderSize: this.ctx.http.clientMaxHeaderSize,
      keepAliveTimeout: KEEP_ALIVE_MS,
      headersTimeout: HEADERS_TIMEOUT_MS,
      requestTimeout: 0, // holds are timed by the wheel
      requireHostHeader: false, // the router answers it, with an explain header
    };
    const handle = (req: IncomingMessage, res: ServerResponse): void => {
      if (this.ctx.http.accessLog) logAccess(this.ctx, req, res);
      listener.router.dispatch(req, res);
    };
    const server: Server = this.servesLean(listener.router)
      ? createLeanServer(this.ctx, { maxHeaderSize: this.ctx.http.clientMaxHeaderSize, keepAliveMs: KEEP_ALIVE_MS, headersTimeoutMs: HEADERS_TIMEOUT_MS, tls: serverConfig.ssl?.options }, handle) as unknown as Server
      : serverConfig.ssl
      ? createTlsServer({ ...options, ...serverConfig.ssl.options }, handle) as TlsServer as unknown as Server
      : createServer(options, handle);
    server.on("connection", this.connectionOpened);
    server.on("clientError", (error: NodeJS.ErrnoException, socket: Socket) => answerClientError(this.ctx, error, socket));
    // WebSocket handshakes (and any other upgrade request) go through the listener's current router.
    server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => listener.router.upgrade(req, socket, head));
    if (serverConfig.ssl) server.on("tlsClientError", (error: Error, socket: Socket) => this.ctx.log.info(`tls handshake failed from ${socket.remoteAddress}: ${error.message}`));
    return server;
  }

  /** `subscriberParser: "lean"` serves a server whose locations are all subscribers (or access-only). */
  private servesLean(router: Router): boolean {
    return this.ctx.http.subscriberParser === "lean" && router.subscribersOnly;
  }

  private async listen(serverConfig: ServerConfig): Promise<Listener> {
    const listener = { config: serverConfig, router: new Router(this.ctx, serverConfig) } as Listener;
    const server = this.createNodeServer(listener, serverConfig);
    await this.bind(server, serverConfig.listen.host, serverConfig.listen.port);
    listener.server = server;
    listener.address = server.address() as AddressInfo;
    this.listeners.push(listener);
    return listener;
  }

  private bind(server: Server, host: string | undefined, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host, port }, () => {
        server.off("error", reject);
        server.on("error", (error) => this.ctx.log.error(`listener ${host ?? "*"}:${port}: ${error.message}`));
        resolve();
      });
    });
  }

  /**
   * New handshakes get the new certificate; open connections keep theirs. Bun's node:https has no
   * setSecureContext (Bun 1.4): there the listening socket is handed to a new server made with the
   * new certificate, and the old server keeps its connections until they end. The only place
   * pushwire works around a runtime.
   */
  private async swapCertificate(listener: Listener, serverConfig: ServerConfig): Promise<void> {
    const current = listener.server as unknown as TlsServer;
    if (typeof current.setSecureContext === "function") return current.setSecureContext(serverConfig.ssl!.options);
    await this.replaceServer(listener, serverConfig);
  }

  /** A new server on the listener's port; the old one stops listening and keeps its connections until they end. */
  private async replaceServer(listener: Listener, serverConfig: ServerConfig): Promise<void> {
    const replacement = this.createNodeServer(listener, serverConfig);
    const old = listener.server;
    this.retired.add(old);
    old.once("close", () => this.retired.delete(old));
    old.close();
    old.closeIdleConnections();
    await this.bind(replacement, serverConfig.listen.host, listener.address.port);
    listener.server = replacement;
  }

  /**
   * Applies a new configuration without a restart: listeners are matched by listen address;
   * kept ones get the new locations (for requests from now on) and, if changed, the new
   * certificate (for handshakes from now on); new addresses are opened, removed ones closed
   * (their idle connections at once, the rest after `graceMs`). The store, the wheel and every
   * held subscriber stay. If a new address cannot be opened, nothing changes and this rejects.
   */
  async reload(config: PushwireConfig, graceMs = 5000): Promise<ReloadReport> {
    const report: ReloadReport = { changes: [], needRestart: [] };
    const unclaimed = [...this.listeners];
    const kept: Array<[Listener, ServerConfig]> = [];
    const added: ServerConfig[] = [];
    // A fixed port matches the listener bound there (also one that asked for port 0); then
    // port-0 entries match the remaining port-0 listeners in order. http and https never match.
    const claim = (serverConfig: ServerConfig, fits: (l: Listener) => boolean): void => {
      const candidate = (l: Listener): boolean => !l.config.ssl === !serverConfig.ssl && (l.config.listen.host ?? "*") === (serverConfig.listen.host ?? "*") && fits(l);
      // Among equal candidates, one already of the right kind (lean or node:http) is kept without a new server.
      const lean = this.servesLean(new Router(this.ctx, serverConfig));
      let at = unclaimed.findIndex((l) => candidate(l) && isLeanServer(l.server) === lean);
      if (at < 0) at = unclaimed.findIndex(candidate);
      if (at >= 0) kept.push([unclaimed.splice(at, 1)[0]!, serverConfig]);
      else added.push(serverConfig);
    };
    for (const serverConfig of config.servers) if (serverConfig.listen.port !== 0) claim(serverConfig, (l) => l.address.port === serverConfig.listen.port);
    for (const serverConfig of config.servers) if (serverConfig.listen.port === 0) claim(serverConfig, (l) => l.config.listen.port === 0);
    const removed = unclaimed;
    // A port that a removed listener holds (http becoming https, "*:8893" becoming "127.0.0.1:8893")
    // is opened only after that listener is closed.
    const freed = new Set(removed.map((l) => l.address.port));
    const waits = (serverConfig: ServerConfig): boolean => serverConfig.listen.port !== 0 && freed.has(serverConfig.listen.port);
    const opened: Listener[] = [];
    try {
      for (const serverConfig of added) if (!waits(serverConfig)) opened.push(await this.listen(serverConfig));
    } catch (error) {
      for (const listener of opened) this.dropListener(listener, 0);
      throw error;
    }

    for (const [listener, serverConfig] of kept) {
      if (!sameSsl(listener.config.ssl, serverConfig.ssl)) {
        await this.swapCertificate(listener, serverConfig);
        report.changes.push(`${listenKey(serverConfig)} certificate ${serverConfig.ssl!.certificate} loaded`);
      }
      listener.config = serverConfig;
      listener.router = new Router(this.ctx, serverConfig);
      // Locations that no longer fit the lean listener (a publisher added), or now do: the other kind of server.
      if (this.servesLean(listener.router) !== isLeanServer(listener.server)) {
        await this.replaceServer(listener, serverConfig);
        report.changes.push(`${listenKey(serverConfig)} parser ${isLeanServer(listener.server) ? "lean" : "node"}`);
      }
    }
    for (const listener of removed) {
      this.dropListener(listener, graceMs);
      report.changes.push(`${listenKey(listener.config)} closed`);
    }
    for (const serverConfig of added) {
      if (waits(serverConfig)) opened.push(await this.listen(serverConfig));
    }
    this.listeners.sort((a, b) => config.servers.indexOf(a.config) - config.servers.indexOf(b.config)); // in the file's order
    for (const listener of opened) report.changes.push(`${listenKey(listener.config)} opened${listener.config.ssl ? " (TLS)" : ""} on port ${listener.address.port}`);

    const http = this.ctx.http as unknown as Record<string, unknown>;
    const next = config.http as unknown as Record<string, unknown>;
    for (const key of Object.keys(next)) {
      if (http[key] === next[key]) continue;
      if ((RESTART_KEYS as readonly string[]).includes(key)) {
        report.needRestart.push(key);
        continue;
      }
      report.changes.push(`${key} ${JSON.stringify(http[key])} → ${JSON.stringify(next[key])}`);
      http[key] = next[key]; // the store reads its limits from this same object
    }
    this.config = { http: this.ctx.http, servers: this.listeners.map((l) => l.config) };
    return report;
  }

  /** Stops a listener: no new connections, idle ones closed now, the rest cut after `graceMs`. */
  private dropListener(listener: Listener, graceMs: number): void {
    this.listeners.splice(this.listeners.indexOf(listener), 1);
    const { server } = listener;
    server.close();
    server.closeIdleConnections();
    if (graceMs <= 0) server.closeAllConnections();
    else setTimeout(() => server.closeAllConnections(), graceMs).unref();
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
    for (const server of this.retired) closed.push(new Promise<void>((resolve) => server.once("close", () => resolve())));
    const servers = [...this.listeners.map((l) => l.server), ...this.retired];
    for (const held of [...ctx.held]) held.shutdown();
    for (const server of servers) server.closeIdleConnections();
    const force = setTimeout(() => {
      for (const server of servers) server.closeAllConnections();
    }, graceMs);
    await Promise.all(closed);
    clearTimeout(force);
  }
}

/**
 * A request node:http could not parse. Answer as an HTTP server should, with the reason,
 * and close; nothing else is affected.
 */
function answerClientError(ctx: PushContext, error: NodeJS.ErrnoException, socket: Socket): void {
  if (!socket.writable || (error as { bytesParsed?: number }).bytesParsed === 0 && error.code === "ECONNRESET") {
    socket.destroy();
    return;
  }
  const [status, reason, explain] = clientErrorAnswer(error);
  ctx.metrics.countRejected(status);
  ctx.log.info(`client error ${status} from ${socket.remoteAddress}: ${error.code ?? error.message}`);
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
