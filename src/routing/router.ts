import type { ServerConfig } from "../config/schema.js";
import type { PushContext } from "../context.js";
import { percentDecode } from "../core/percent.js";
import { Refusal } from "../core/refusal.js";
import type { PushReply, PushRequest } from "../http/exchange.js";
import { sendRefusal } from "./answers.js";
import { RequestVars } from "./request-vars.js";
import { Route, type HandlerTable } from "./route.js";

const noLocation = new Refusal(404, "No location matches this path.");
const missingHost = new Refusal(400, "HTTP/1.1 request without Host header.");
const internalError = new Refusal(500, "Internal server error; see the server log.");
const upgradeWithBody = new Refusal(400, "An upgrade request cannot carry a body.");

/** The locations of one server; the longest matching path prefix wins (nginx `location ^~`). */
export class Router {
  private readonly routes: Route[];

  constructor(
    private readonly ctx: PushContext,
    server: ServerConfig,
    handlers: HandlerTable,
  ) {
    this.routes = server.locations.map((location) => new Route(ctx, location, handlers(location))).sort((a, b) => b.config.path.length - a.config.path.length);
  }

  match(path: string): Route | undefined {
    const decoded = percentDecode(path);
    for (const route of this.routes) if (decoded.startsWith(route.config.path)) return route;
    return undefined;
  }

  /**
   * The entry of every request, plain or upgrade, from either HTTP stack. A failure in one
   * request is logged and answered 500 (or its connection cut); nothing else is affected.
   */
  readonly serve = (request: PushRequest, reply: PushReply): void => {
    const { metrics } = this.ctx;
    // After an upgrade no body is read; a request that has one cannot be served.
    if (request.upgrade && hasBody(request)) return sendRefusal(reply, upgradeWithBody, [], metrics);
    try {
      if (request.versionMinor === 1 && request.versionMajor === 1 && request.header("host") === undefined) {
        return sendRefusal(reply, missingHost, ["Connection", "close"], metrics);
      }
      const vars = new RequestVars(request);
      const route = this.match(vars.path);
      if (!route) return sendRefusal(reply, noLocation, [], metrics);
      route.handle(request, reply, vars);
    } catch (error) {
      this.ctx.log.error(`internal error on ${request.method} ${request.url} from ${request.remoteAddress}: ${(error as Error).stack ?? error}`);
      if (!reply.headersSent) sendRefusal(reply, internalError, ["Connection", "close"], metrics);
      else reply.destroy();
    }
  };
}

function hasBody(request: PushRequest): boolean {
  const length = request.header("content-length");
  return (length !== undefined && length !== "" && length !== "0") || request.header("transfer-encoding") !== undefined;
}
