import type { Handler } from "../routing/route.js";
import { push2Of } from "./state.js";

/** Push server 2.0's `/server-stat/` (BITRIX.md §5): GET only, the per-process JSON array. */
export const push2ServerStatHandler: Handler = (route, request, reply) => {
  if (request.method !== "GET") return reply.send(405, ["Allow", "GET"]);
  reply.send(200, ["Content-Type", "application/json", "Cache-Control", "no-cache"], [Buffer.from(push2Of(route.ctx).serverStatJson())]);
};
