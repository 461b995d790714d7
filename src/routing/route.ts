import type { LocationConfig } from "../config/schema.js";
import type { PushContext } from "../context.js";
import { readChannelsPath, type ChannelRequest } from "../core/channel-path.js";
import { percentDecode } from "../core/percent.js";
import { Refusal, refusals } from "../core/refusal.js";
import { Template } from "../core/template.js";
import type { Headers, PushReply, PushRequest } from "../http/exchange.js";
import { addNoCache, readBody, sendRefusal } from "./answers.js";
import type { RequestVars } from "./request-vars.js";

/** A request handler for one kind of location, like Go's http.Handler. */
export type Handler = (route: Route, request: PushRequest, reply: PushReply, vars: RequestVars) => void;

/** The role → handler table: which handler serves a location, or none (it answers 403/404 only). */
export type HandlerTable = (location: LocationConfig) => Handler | undefined;

const accessDenied = new Refusal(403, "Access denied for this address.");
/** A location without a role that denies the address: nginx's `location / { deny all; }`, which serves nothing. */
const noLocationHere = new Refusal(403, "No location serves this path on this port.");
const noHandler = new Refusal(404, "This location has no publisher or subscriber.");

/** One location, compiled: its settings, its templates as bytes, and its handler. */
export class Route {
  readonly messageTemplate: Template;
  readonly header: Buffer;
  readonly footer: Buffer;

  constructor(
    readonly ctx: PushContext,
    readonly config: LocationConfig,
    private readonly handler: Handler | undefined,
  ) {
    this.messageTemplate = Template.of(config.messageTemplate);
    this.header = Buffer.from(config.headerTemplate);
    this.footer = Buffer.from(config.footerTemplate);
  }

  /**
   * The channels the request names (`channelsPath`, decoded, `.bN` split off), within the per-request
   * cap; ids that are not UTF-8, carry control characters or go on after a `?` are refused.
   */
  requestedChannels(vars: RequestVars): ChannelRequest[] | Refusal {
    const raw = this.config.channelsPath?.evaluate(vars);
    const requested = raw ? readChannelsPath(raw) : [];
    if (requested instanceof Refusal) return requested;
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

  /** Answers with a refusal, counted for /metrics. */
  refuse(reply: PushReply, refusal: Refusal, headers: Headers): void {
    sendRefusal(reply, refusal, headers, this.ctx.metrics);
  }

  /** Reads the request body within clientMaxBodySize (413 / 400 answered here), then calls `done`. */
  readBody(request: PushRequest, reply: PushReply, headers: Headers, done: (body: Buffer) => void): void {
    readBody(request, reply, this.config.clientMaxBodySize, headers, this.ctx.metrics, done);
  }

  /** allow/deny, rejectArgs, then the location's handler. */
  handle(request: PushRequest, reply: PushReply, vars: RequestVars): void {
    const config = this.config;
    if (config.access && !config.access.permits(request.remoteAddress)) return this.refuse(reply, this.handler ? accessDenied : noLocationHere, []);
    for (const name of config.rejectArgs) {
      if (vars.arg(name)) return this.refuse(reply, new Refusal(400, `Argument ${name} is not allowed here.`), addNoCache([]));
    }
    if (!this.handler) return this.refuse(reply, noHandler, []);
    this.handler(this, request, reply, vars);
  }
}
