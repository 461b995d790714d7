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
  const others = ctx.peers?.others() ?? [];
  const subscribers = others.reduce((sum, other) => sum + other.readings.gauges.subscribers, ctx.held.size);
  // With workers: which one answered, and how many the machine runs (this one and those it hears from).
  const workers = ctx.peers ? `, "worker": ${ctx.peers.worker}, "workers": ${others.length + 1}` : "";
  const body = `{"status": "${draining ? "draining" : "ok"}", "uptime": ${ctx.store.uptime}, "channels": ${ctx.store.channelCount}, "subscribers": ${subscribers}${workers}${fds}}\n`;
  headers.unshift("Content-Type", "application/json");
  reply.send(draining ? 503 : 200, headers, [Buffer.from(body)]);
};
