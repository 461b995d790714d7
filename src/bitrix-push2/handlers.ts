import type { LocationConfig } from "../config/schema.js";
import type { Handler } from "../http/router.js";
import { push2LongPollingHandler } from "./long-polling.js";
import { push2PublisherHandler } from "./publisher.js";
import { push2ServerStatHandler } from "./server-stat.js";
import { push2WebSocketHandler } from "./websocket.js";

/**
 * The handler of a `protocol: "bitrix-push2"` location, by its role: `publisher` "admin" is the
 * site's /bitrix/pub/, "normal" the browsers' /bitrix/rest/; `subscriber` "long-polling" /bitrix/sub/,
 * "websocket" /bitrix/subws/; `channelsStatistics` /server-stat/. Other roles have none (404).
 */
export function push2HandlerFor(config: LocationConfig): Handler | undefined {
  if (config.publisher) return push2PublisherHandler;
  if (config.subscriber === "long-polling") return push2LongPollingHandler;
  if (config.subscriber === "websocket") return push2WebSocketHandler;
  if (config.channelsStatistics) return push2ServerStatHandler;
  return undefined;
}
