import type { LocationConfig } from "../config/schema.js";
import type { Handler } from "../routing/route.js";
import { push2LongPollingHandler } from "./long-polling.js";
import { push2PublisherHandler } from "./publisher.js";
import { push2RestHandler } from "./rest.js";
import { push2ServerStatHandler } from "./server-stat.js";
import { push2WebSocketHandler } from "./websocket.js";

/**
 * A push2 subscriber location serves both transports, as Push server 2.0 does on one path:
 * BitrixVM's nginx rewrites `/bitrix/sub/` long-polls to `/bitrix/subws/`, so a WebSocket
 * location must answer a plain GET as a long-poll, and a long-polling location an upgrade as a
 * WebSocket. The location's `subscriber` mode only names its usual traffic.
 */
const push2SubscriberHandler: Handler = (route, request, reply, vars) => {
  (request.upgrade ? push2WebSocketHandler : push2LongPollingHandler)(route, request, reply, vars);
};

/**
 * The handler of a `protocol: "bitrix-push2"` location, by its role: `publisher` "admin" is the
 * site's /bitrix/pub/, "normal" the browsers' /bitrix/rest/; `subscriber` "long-polling" or
 * "websocket" /bitrix/sub/ and /bitrix/subws/ (either serves both); `channelsStatistics`
 * /server-stat/. Other roles have none (404).
 */
export function push2Handler(location: LocationConfig): Handler | undefined {
  if (location.publisher) return location.publisher === "admin" ? push2PublisherHandler : push2RestHandler;
  if (location.subscriber === "long-polling" || location.subscriber === "websocket") return push2SubscriberHandler;
  if (location.channelsStatistics) return push2ServerStatHandler;
  return undefined;
}
