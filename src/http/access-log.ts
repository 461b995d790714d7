import type { IncomingMessage, ServerResponse } from "node:http";
import type { PushContext } from "./context.js";

/**
 * The access log (`accessLog: true`, off by default): one line per request when its response
 * ends, `access ADDRESS "METHOD URL HTTP/x.y" STATUS MSms`. A client that went away before the
 * answer is logged with nginx's 499. The listener is only attached while the log is on.
 */
export function logAccess(ctx: PushContext, req: IncomingMessage, res: ServerResponse): void {
  const started = ctx.clock.now();
  res.once("close", () => {
    const status = res.writableFinished ? res.statusCode : 499;
    ctx.log.info(`access ${req.socket.remoteAddress} "${req.method} ${req.url} HTTP/${req.httpVersion}" ${status} ${ctx.clock.now() - started}ms`);
  });
}
