import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { LocationConfig, ServerConfig } from "../config/schema.js";
import { Template } from "../core/template.js";
import type { PushContext } from "./context.js";
import { decodeChannelsPath, percentDecode } from "./percent.js";
import { parseChannelsPath, type ChannelRequest } from "../core/channel-path.js";
import { publisherHandler } from "./publisher.js";
import { RequestVars } from "./request-vars.js";
import { addNoCache, sendRefusal } from "./respond.js";
import { Refusal, refusals } from "../core/refusal.js";
import { longPollingHandler } from "../subscribers/long-polling.js";
import { pollingHandler } from "../subscribers/polling.js";
import { streamingHandler } from "../subscribers/streaming.js";
import { eventSourceHandler } from "../subscribers/eventsource.js";
import { websocketHandler } from "../subscribers/websocket.js";
import { PushResponse } from "./push-response.js";
import { statisticsHandler } from "./stats.js";
import { metricsHandler } from "./metrics.js";
import { healthHandler } from "./health.js";
import { push2HandlerFor } from "../bitrix-push2/handlers.js";

/** A request handler for one kind of location. */
export type Handler = (route: Route, req: IncomingMessage, res: ServerResponse, vars: RequestVars) => void;

const noLocation = new Refusal(404, "No location matches this path.");
const accessDenied = new Refusal(403, "Access denied for this address.");
const missingHost = new Refusal(400, "HTTP/1.1 request without Host header.");
const internalError = new Refusal(500, "Internal server error; see the server log.");
const noHandler = new Refusal(404, "This location has no publisher or subscriber.");
const upgradeWithBody = new Refusal(400, "An upgrade request cannot carry a body.");

/** One location, compiled: its settings, its templates as bytes, and its handler. */
export class Route {
  readonly messageTemplate: Template;
  readonly header: Buffer;
  readonly footer: Buffer;
  private readonly handler: Handler | undefined;

  constructor(
    readonly ctx: PushContext,
    readonly config: LocationConfig,
  ) {
    this.messageTemplate = Template.of(config.messageTemplate);
    this.header = Buffer.from(config.headerTemplate);
    this.footer = Buffer.from(config.footerTemplate);
    this.handler = config.protocol === "bitrix-push2" ? push2HandlerFor(config)
      : config.publisher ? publisherHandler
      : config.subscriber ? SUBSCRIBER_HANDLERS[config.subscriber]
      : config.channelsStatistics ? statisticsHandler
      : config.metrics ? metricsHandler
      : config.health ? healthHandler
      : undefined;
  }

  /** The channels the request names (`channelsPath`, decoded, `.bN` split off), within the per-request cap. */
  requestedChannels(vars: RequestVars): ChannelRequest[] | Refusal {
    const raw = this.config.channelsPath?.evaluate(vars);
    const requested = raw ? parseChannelsPath(decodeChannelsPath(raw)) : [];
    if (requested.length === 0) return refusals.noChannelId;
    const max = this.config.maxChannelsPerRequest;
    if (max > 0 && requested.length > max) return refusals.tooManyChannelsInRequest;
    return requested;
  }

  /** The Access-Control-Allow-Origin value for this request, if CORS is on. */
  origin(vars: RequestVars): string | undefined {
    const value = this.config.allowedOrigins?.evaluate(vars);
    return value ? percentDecode(value) : undefined;
  }

  /** A subscriber location, or one that only answers (deny/allow, no handler): the lean listener can serve it. */
  get subscriberOnly(): boolean {
    return this.handler === undefined || Object.values(SUBSCRIBER_HANDLERS).includes(this.handler);
  }

  handle(req: IncomingMessage, res: ServerResponse, vars: RequestVars): void {
    const config = this.config;
    if (config.access && !config.access.permits(req.socket.remoteAddress)) {
      return sendRefusal(res, accessDenied, []);
    }
    for (const name of config.rejectArgs) {
      if (vars.arg(name)) return sendRefusal(res, new Refusal(400, `Argument ${name} is not allowed here.`), addNoCache([]));
    }
    let handler = this.handler;
    // X-Nginx-PushStream-Mode may only add a mode (PROTOCOL.md §18.1): a stream can be asked to
    // poll or hold, a polling location to hold; a long-poll stays one, a WebSocket ignores it.
    const mode = handler === longPollingHandler || handler === websocketHandler || config.protocol === "bitrix-push2" ? undefined : vars.header("x-nginx-pushstream-mode")?.toLowerCase();
    if (mode === "long-polling") handler = longPollingHandler;
    else if (mode === "polling" && handler !== pollingHandler && handler !== publisherHandler) handler = pollingHandler;
    if (!handler) return sendRefusal(res, noHandler, []);
    handler(this, req, res, vars);
  }
}

const SUBSCRIBER_HANDLERS: Record<NonNullable<LocationConfig["subscriber"]>, Handler> = {
  "streaming": streamingHandler,
  "polling": pollingHandler,
  "long-polling": longPollingHandler,
  "eventsource": eventSourceHandler,
  "websocket": websocketHandler,
};

/** The locations of one server; the longest matching path prefix wins (nginx `location ^~`). */
export class Router {
  private readonly routes: Route[];

  constructor(private readonly ctx: PushContext, server: ServerConfig) {
    this.routes = server.locations.map((location) => new Route(ctx, location)).sort((a, b) => b.config.path.length - a.config.path.length);
  }

  /** Every location is a subscriber or access-only: `subscriberParser: "lean"` may serve this server. */
  get subscribersOnly(): boolean {
    return this.routes.every((route) => route.subscriberOnly);
  }

  match(path: string): Route | undefined {
    const decoded = percentDecode(path);
    for (const route of this.routes) if (decoded.startsWith(route.config.path)) return route;
    return undefined;
  }

  /** The request listener. A failure in one request is logged and answered 500; nothing else is affected. */
  readonly dispatch = (req: IncomingMessage, res: ServerResponse): void => {
    (res as PushResponse).metrics = this.ctx.metrics;
    try {
      if (req.httpVersionMinor === 1 && req.httpVersionMajor === 1 && req.headers.host === undefined) {
        return sendRefusal(res, missingHost, ["Connection", "close"]);
      }
      const vars = new RequestVars(req);
      const route = this.match(vars.path);
      if (!route) return sendRefusal(res, noLocation, []);
      route.handle(req, res, vars);
    } catch (error) {
      this.ctx.log.error(`internal error on ${req.method} ${req.url} from ${req.socket.remoteAddress}: ${(error as Error).stack ?? error}`);
      if (!res.headersSent) sendRefusal(res, internalError, ["Connection", "close"]);
      else res.destroy();
    }
  };

  /**
   * node:http's 'upgrade' listener. The request is answered through a response bound to the raw
   * socket, so every location behaves as for a plain request; a WebSocket location takes the
   * socket over, any other answers and closes (the socket has left node's keep-alive handling).
   */
  readonly upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on("error", ignoreSocketError);
    // node's server allows half-open sockets and, after an upgrade, no longer closes them for us.
    socket.once("end", endSocket);
    const res = new PushResponse(req);
    res.shouldKeepAlive = false;
    res.upgradeHead = head;
    res.assignSocket(socket as Socket);
    res.once("finish", endSocketAfterAnswer);
    // After an upgrade node no longer reads a body; a request that has one cannot be served.
    if (req.headers["content-length"] && req.headers["content-length"] !== "0" || req.headers["transfer-encoding"]) {
      return sendRefusal(res, upgradeWithBody, []);
    }
    this.dispatch(req, res);
  };
}

function endSocket(this: Duplex): void {
  this.end();
}

function endSocketAfterAnswer(this: PushResponse): void {
  this.socket?.end();
}

function ignoreSocketError(): void {
  // a reset during an upgrade: 'close' follows and releases whatever was attached
}
