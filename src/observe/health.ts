import { refusals } from "../core/refusal.js";
import { addNoCache } from "../routing/answers.js";
import type { Handler } from "../routing/route.js";

/**
 * `GET /health` (location key `health`): 200 with a one-line JSON status while the server accepts
 * and delivers, 503 once it is draining for shutdown (so a load balancer stops sending).
 * GET and HEAD only.
 */
export const healthHandler: Handler = (route, request, reply) => {
  const headers = addNoCache([]);
  if (request.method !== "GET" && request.method !== "HEAD") return route.refuse(reply, refusals.methodNotAllowed, [...headers, "Allow", "GET, HEAD"]);
  const { ctx } = route;
  const draining = ctx.draining;
  const files = ctx.metrics.openFiles;
  const fds = files ? `, "fd_limit": ${files.limit ?? null}, "fd_in_use": ${files.inUse}, "fd_exhausted": ${files.exhausted}` : "";
  const body = `{"status": "${draining ? "draining" : "ok"}", "uptime": ${ctx.store.uptime}, "channels": ${ctx.store.channelCount}, "subscribers": ${ctx.held.size}${fds}}\n`;
  headers.unshift("Content-Type", "application/json");
  reply.send(draining ? 503 : 200, headers, [Buffer.from(body)]);
};
