import { refusals } from "../core/refusal.js";
import { addNoCache, sendBody, sendRefusal } from "./respond.js";
import type { Handler } from "./router.js";

/**
 * `GET /health` (location key `health`): 200 with a one-line JSON status while the server accepts
 * and delivers, 503 once it is draining for shutdown (so a load balancer stops sending).
 * GET and HEAD only.
 */
export const healthHandler: Handler = (route, req, res) => {
  const headers = addNoCache([]);
  if (req.method !== "GET" && req.method !== "HEAD") return sendRefusal(res, refusals.methodNotAllowed, [...headers, "Allow", "GET, HEAD"]);
  const { ctx } = route;
  const draining = ctx.draining;
  const body = `{"status": "${draining ? "draining" : "ok"}", "uptime": ${ctx.store.uptime}, "channels": ${ctx.store.channelCount}, "subscribers": ${ctx.held.size}}\n`;
  headers.unshift("Content-Type", "application/json");
  sendBody(res, draining ? 503 : 200, headers, [Buffer.from(body)]);
};
