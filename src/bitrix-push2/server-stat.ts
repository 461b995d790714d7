import { sendBody } from "../http/respond.js";
import type { Handler } from "../http/router.js";
import { push2Of, type Push2Hub } from "./hub.js";

/**
 * Push server 2.0's `/server-stat/` (BITRIX.md §5): a JSON array with one object per process.
 * pushwire is one process, so the array has one object: the same field names, filled from the
 * shared store and the push2 connection counters.
 */
export function serverStatJson(hub: Push2Hub): string {
  const ctx = hub.ctx;
  const { store, http } = ctx;
  return JSON.stringify([{
    pid: process.pid,
    date: new Date(ctx.clock.now()).toISOString(),
    processUniqueId: `pushwire-${process.pid}`,
    startDate: new Date(hub.startedAt).toISOString(),
    uptime: Math.floor((ctx.clock.now() - hub.startedAt) / 1000),
    clusterMode: false,
    channels: store.channelCount,
    storedMessages: store.storedMessages,
    websockets: hub.websockets,
    pollings: hub.pollings,
    publishedMessages: store.publishedMessages,
    messagesFromBackend: hub.publishedFromBackend,
    messagesFromClients: hub.publishedFromClients,
    limits: {
      maxConnPerChannel: http.maxSubscribersPerChannel,
      maxMessagesPerChannel: http.maxMessagesStoredPerChannel,
      messageTTL: http.messageTtl,
      onlineTTL: http.onlineTtl,
    },
  }]);
}

export const push2ServerStatHandler: Handler = (route, req, res) => {
  if (req.method !== "GET") {
    res.writeHead(405, { Allow: "GET", "Content-Length": "0" });
    return void res.end();
  }
  sendBody(res, 200, ["Content-Type", "application/json", "Cache-Control", "no-cache"], [Buffer.from(serverStatJson(push2Of(route.ctx)))]);
};
