import type { PushContext } from "../context.js";
import type { PushReply, PushRequest } from "../http/exchange.js";

/**
 * The access log (`accessLog: true`, off by default): one line per request when its reply
 * ends, `access ADDRESS "METHOD URL HTTP/x.y" STATUS MSms`. A client that went away before the
 * answer is logged with nginx's 499. The listener is only attached while the log is on.
 */
export function logAccess(ctx: PushContext, request: PushRequest, reply: PushReply): void {
  const started = ctx.clock.now();
  reply.onEnd((status, answered) => {
    const version = `${request.versionMajor}.${request.versionMinor}`;
    ctx.log.info(`access ${request.remoteAddress} "${request.method} ${request.url} HTTP/${version}" ${answered ? status : 499} ${ctx.clock.now() - started}ms`);
  });
}
