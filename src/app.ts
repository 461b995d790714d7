import { Server as NetServer, type AddressInfo, type Socket } from "node:net";
import { monitorEventLoopDelay } from "node:perf_hooks";
import type { HttpSettings, PushwireConfig, ServerConfig } from "./config/schema.js";
import { sameSsl } from "./config/ssl.js";
import { ServerMetrics, type PushContext } from "./context.js";
import { systemClock, type Clock } from "./core/clock.js";
import { TimerWheel } from "./core/timer-wheel.js";
import type { HttpServer, PushReply, PushRequest } from "./http/exchange.js";
import { createLeanServer } from "./http/lean-listener.js";
import { createNodeServer } from "./http/node-listener.js";
import { attachDashboard, type DashboardFeed, type ListenerView } from "./dashboard/feed.js";
import { Logger } from "./log.js";
import { logAccess } from "./observe/access-log.js";
import { EvictionLog } from "./observe/eviction-log.js";
import type { WorkerPeers } from "./observe/readings.js";
import { isOutOfDescriptors, OpenFiles } from "./observe/open-files.js";
import { handlerFor, locationRole } from "./roles.js";
import { Router } from "./routing/router.js";
import type { Restored } from "./persist/logged-channels.js";
import { keepLog, openChannels, type OpenedChannels } from "./persist/open-channels.js";
import { redisBrokerFactory } from "./redis/redis-broker.js";

export interface StartOptions {
  clock?: Clock;
  log?: Logger;
  /** Timer wheel resolution; holds end within one tick of their deadline. */
  tickMs?: number;
  /** How often expired messages and inactive channels are swept. */
  sweepMs?: number;
  /** The message log compacts only beyond this many bytes (default 16 MiB); tests lower it. */
  compactMinBytes?: number;
  /** The store to serve (a worker's copy of the primary's); by default opened from the configuration. */
  channels?: OpenedChannels;
  /** With workers: the others, for statistics and /metrics. */
  peers?: WorkerPeers;
}

export interface Listener {
  config: ServerConfig;
  server: HttpServer;
  /** The bound address (port resolved when the config said 0). */
  address: AddressInfo;
  /** This listener's locations; a reload swaps it, requests already routed keep theirs. */
  router: Router;
}

/** What a reload did beyond taking the new values, one phrase per action, for the log. */
export interface ReloadReport {
  /** Listeners opened or closed, certificates loaded, parsers swapped. */
  changes: string[];
  /** http-level keys whose new value needs a restart (the old value stays in force). */
  needRestart: string[];
}

/**
 * http-level keys a reload cannot apply to a running server: the parser's header limit is fixed
 * per server, ring capacity per existing channel, and the wildcard prefix decides how existing
 * channels were counted. Every other http-level key applies from the next request.
 */
export const RESTART_KEYS: readonly (keyof HttpSettings)[] = ["clientMaxHeaderSize", "clientHeaderTimeout", "maxMessagesStoredPerChannel", "wildcardChannelPrefix", "eventsChannelId", "subscriberParser"];

/**
 * Takes a reload's http-level values into the running settings object (the store reads its
 * limits from this same object); returns the keys that changed but need a restart.
 */
export function applyHttpSettings(running: HttpSettings, next: HttpSettings): (keyof HttpSettings)[] {
  const needRestart: (keyof HttpSettings)[] = [];
  const http = running as unknown as Record<string, unknown>;
  const fresh = next as unknown as Record<string, unknown>;
  for (const key of Object.keys(fresh) as (keyof HttpSettings)[]) {
    if (http[key] === fresh[key]) continue;
    if (RESTART_KEYS.includes(key)) needRestart.push(key);
    else http[key] = fresh[key];
  }
  return needRestart;
}

/** "127.0.0.1:8895", "*:8893": how listeners are told apart across a reload. */
export function listenKey(config: ServerConfig): string {
  return `${config.listen.host ?? "*"}:${config.listen.port}`;
}

/** A load balancer checks this listener: it stays open through a graceful stop. */
function servesHealth(listener: Listener): boolean {
  return listener.config.locations.some((location) => location.health);
}

/** A listener as the dashboard lists it. */
function listenerView({ config, address }: Listener): ListenerView {
  return {
    address: address.address,
    port: address.port,
    tls: config.ssl !== undefined,
    locations: config.locations.map((l) => `${l.path} ${locationRole(l)}`),
  };
}

/**
 * Connections the kernel may queue before they are accepted (capped by net.core.somaxconn,
 * 4096 on current kernels). Node's default, 511, overflows when thousands of clients reconnect
 * at once (a restart, a network blip): the kernel then drops them and they retry seconds later.
 */
const LISTEN_BACKLOG = 4096;

/** Idle keep-alive connections are closed after this (nginx's keepalive_timeout default is 75 s). */
const KEEP_ALIVE_MS = 75_000;

/**
 * A running pushwire, the composition root: the clock, the store (channel index, History, Hub,
 * Broker), the timer wheel, the listeners with their routers, and a graceful stop.
 */
export class PushServer {
  readonly ctx: PushContext;
  readonly listeners: Listener[] = [];
  /** Open client connections over all listeners (TCP, before any TLS handshake). */
  connections = 0;
  private readonly tick: NodeJS.Timeout;
  private readonly sweeper: NodeJS.Timeout;
  /** Servers that stopped listening but still carry connections (Bun's certificate reload). */
  private readonly retired = new Set<HttpServer>();
  private readonly connectionClosed = (): void => {
    this.connections--;
    this.ctx.metrics.connectionsClosed++;
  };
  private readonly connectionOpened = (socket: Socket): void => {
    this.connections++;
    this.ctx.metrics.connectionsOpened++;
    this.openFiles?.accepted(this.connections);
    socket.once("close", this.connectionClosed);
  };
  private acceptState: "accepting" | "paused" | "changing" = "accepting";
  /** Set once the listeners are open (their descriptors are part of what it counts). */
  private openFiles: OpenFiles | undefined;
  /** The live dashboard's feed (it samples only while a dashboard is open). */
  readonly dashboard: DashboardFeed;
  /** What the message log's replay restored, when there is a log. */
  readonly restored: Restored | undefined;

  private constructor(public config: PushwireConfig, options: StartOptions) {
    const clock = options.clock ?? systemClock;
    const tickMs = options.tickMs ?? 100;
    const log = options.log ?? new Logger("info");
    const http = config.http;
    const { memory, restored, ...channels } = options.channels ?? openChannels(config, clock, log, options.compactMinBytes, redisBrokerFactory(config.broker?.redis, log));
    this.restored = restored;
    if (http.sharedMemorySize) memory.observers.push(new EvictionLog(log, clock, http.sharedMemorySize));
    this.ctx = {
      ...channels,
      http,
      wheel: new TimerWheel(tickMs, clock.now()),
      clock,
      log,
      held: new Set(),
      draining: false,
      metrics: new ServerMetrics(),
      peers: options.peers,
    };
    this.dashboard = attachDashboard(this.ctx, () => this.listeners.map(listenerView));
    if (config.servers.some((server) => server.locations.some((location) => location.metrics))) {
      this.ctx.metrics.loopDelay = monitorEventLoopDelay({ resolution: 10 });
      this.ctx.metrics.loopDelay.enable();
    }
    this.tick = setInterval(() => this.guard("timer", () => this.ctx.wheel.advance(clock.now())), tickMs);
    this.sweeper = setInterval(() => this.guard("sweep", () => {
      this.ctx.broker.sweep();
      keepLog(this.ctx);
      this.openFiles?.check(this.connections);
    }), options.sweepMs ?? 1000);
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
      await push.ctx.broker.start?.(); // Redis: connected and caught up before the first subscriber
      for (const serverConfig of config.servers) await push.listen(serverConfig);
    } catch (error) {
      await push.close(0);
      throw error;
    }
    push.ctx.metrics.openFiles = push.openFiles = new OpenFiles(push.ctx.log, push.ctx.clock);
    return push;
  }

  /**
   * The server for one ServerConfig — the lean listener (node:net/node:tls with pushwire's own
   * parser; every handler speaks only the request/reply contract) or, with `subscriberParser:
   * "node"`, node:http(s) — TLS when it has `ssl`, serving the listener's current router. The one
   * place a server is made.
   */
  private createServer(listener: Pick<Listener, "router">, serverConfig: ServerConfig): HttpServer {
    const { ctx } = this;
    const serve = (request: PushRequest, reply: PushReply): void => {
      if (ctx.http.accessLog) logAccess(ctx, request, reply);
      listener.router.serve(request, reply);
    };
    const options = { maxHeaderSize: ctx.http.clientMaxHeaderSize, keepAliveMs: KEEP_ALIVE_MS, headersTimeoutMs: ctx.http.clientHeaderTimeout * 1000, tls: serverConfig.ssl?.options };
    const server = ctx.http.subscriberParser === "lean" ? createLeanServer(ctx, options, serve) : createNodeServer(ctx, options, serve);
    server.on("connection", this.connectionOpened);
    if (serverConfig.ssl) server.on("tlsClientError", (error: Error, socket: Socket) => {
      ctx.log.info(`tls handshake failed from ${socket.remoteAddress}: ${error.message}`);
      socket.destroy(); // node leaves a timed-out handshake's socket open
    });
    return server;
  }

  private async listen(serverConfig: ServerConfig): Promise<Listener> {
    const listener = { config: serverConfig, router: new Router(this.ctx, serverConfig, handlerFor) } as Listener;
    const server = this.createServer(listener, serverConfig);
    await this.bind(server, serverConfig.listen.host, serverConfig.listen.port);
    listener.server = server;
    listener.address = server.address() as AddressInfo;
    this.listeners.push(listener);
    return listener;
  }

  /** Whether the listeners take new connections (a worker stops near its limits: cluster/accept-gate.ts). */
  get accepting(): boolean {
    return this.acceptState === "accepting";
  }

  /**
   * Stops taking new connections; open ones stay (net's close, not http's, which would also end
   * idle keep-alive connections). Another worker sharing the port takes the new ones.
   */
  pauseAccepting(): void {
    if (this.acceptState !== "accepting" || this.ctx.draining) return;
    this.acceptState = "paused";
    for (const { server } of this.listeners) if (server.listening) NetServer.prototype.close.call(server);
  }

  /** Takes new connections again: every listener listens on its port once more. */
  async resumeAccepting(): Promise<void> {
    if (this.acceptState !== "paused" || this.ctx.draining) return;
    this.acceptState = "changing";
    try {
      for (const listener of this.listeners) {
        const { server } = listener;
        if (!server.listening) await this.bind(server, listener.config.listen.host, listener.address.port, false);
        if (this.ctx.draining) server.close(); // a stop came while the port was asked for
      }
      this.acceptState = "accepting";
    } catch (error) {
      this.acceptState = "paused";
      this.ctx.log.error(`listeners: cannot accept again: ${(error as Error).message}`);
    }
  }

  private bind(server: HttpServer, host: string | undefined, port: number, first = true): Promise<void> {
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host, port, backlog: LISTEN_BACKLOG }, () => {
        server.off("error", reject);
        if (first) server.on("error", (error) => {
          if (isOutOfDescriptors(error) && this.openFiles) this.openFiles.refused(this.connections, error);
          else this.ctx.log.error(`listener ${host ?? "*"}:${port}: ${error.message}`);
        });
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
    const current = listener.server;
    if (typeof current.setSecureContext === "function") return current.setSecureContext(serverConfig.ssl!.options);
    await this.replaceServer(listener, serverConfig);
  }

  /** A new server on the listener's port; the old one stops listening and keeps its connections until they end. */
  private async replaceServer(listener: Listener, serverConfig: ServerConfig): Promise<void> {
    const replacement = this.createServer(listener, serverConfig);
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
      const at = unclaimed.findIndex(candidate);
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
      listener.router = new Router(this.ctx, serverConfig, handlerFor);
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

    report.needRestart.push(...applyHttpSettings(this.ctx.http, config.http));
    // The log is opened once, before the listeners: a different one needs a restart.
    if (JSON.stringify(config.messageLog) !== JSON.stringify(this.config.messageLog)) report.needRestart.push("messageLog");
    if (JSON.stringify(config.broker) !== JSON.stringify(this.config.broker)) report.needRestart.push("broker");
    this.config = { http: this.ctx.http, servers: this.listeners.map((l) => l.config), messageLog: this.config.messageLog, broker: this.config.broker };
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

  /** Listeners that stay open through a graceful stop: those with a health location. */
  get healthListeners(): Listener[] {
    return this.listeners.filter(servesHealth);
  }

  /**
   * Graceful stop: no new connections, every held subscriber gets its timeout answer (304),
   * idle keep-alive connections close; whatever is still open after `graceMs` is cut. A listener
   * with a health location keeps accepting until then, so a load balancer's checks get 503
   * (draining) instead of a refused connection, and it stops sending before the port goes away.
   */
  async close(graceMs = 5000): Promise<void> {
    const { ctx } = this;
    ctx.draining = true;
    ctx.metrics.loopDelay?.disable();
    clearInterval(this.tick);
    clearInterval(this.sweeper);
    const lingering = graceMs > 0 ? this.healthListeners.map((l) => l.server) : [];
    const servers = [...this.listeners.map((l) => l.server), ...this.retired];
    const closed = servers.map((server) => new Promise<void>((resolve) => server.once("close", () => resolve())));
    for (const { server } of this.listeners) if (!lingering.includes(server)) server.close();
    for (const held of [...ctx.held]) held.shutdown();
    this.dashboard.close();
    for (const server of servers) if (!lingering.includes(server)) server.closeIdleConnections();
    const force = setTimeout(() => {
      for (const server of lingering) server.close();
      for (const server of servers) server.closeAllConnections();
    }, graceMs);
    await Promise.all(closed);
    clearTimeout(force);
    ctx.broker.close?.();
    ctx.messageLog?.close();
  }
}
