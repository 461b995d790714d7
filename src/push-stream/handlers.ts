import type { LocationConfig, SubscriberMode } from "../config/schema.js";
import type { Handler } from "../routing/route.js";
import { eventSourceHandler } from "./eventsource.js";
import { longPollingHandler } from "./long-polling.js";
import { pollingHandler } from "./polling.js";
import { publisherHandler } from "./publisher.js";
import { streamingHandler } from "./streaming.js";
import { websocketHandler } from "./websocket.js";

const MODE_HEADER = "x-nginx-pushstream-mode";

/**
 * `X-Nginx-PushStream-Mode` may only add a mode (PROTOCOL.md §18.1): a stream can be asked to
 * poll or hold, a polling location to hold; a long-poll stays one, a WebSocket ignores it.
 */
const streamOrPoll = (stream: Handler): Handler => (route, request, reply, vars) => {
  const mode = vars.header(MODE_HEADER)?.toLowerCase();
  const handler = mode === "long-polling" ? longPollingHandler : mode === "polling" ? pollingHandler : stream;
  handler(route, request, reply, vars);
};

const SUBSCRIBERS: Record<SubscriberMode, Handler> = {
  "streaming": streamOrPoll(streamingHandler),
  "eventsource": streamOrPoll(eventSourceHandler),
  "polling": (route, request, reply, vars) => {
    const hold = vars.header(MODE_HEADER)?.toLowerCase() === "long-polling";
    (hold ? longPollingHandler : pollingHandler)(route, request, reply, vars);
  },
  "long-polling": longPollingHandler,
  "websocket": websocketHandler,
};

/** The handler of a push-stream publisher or subscriber location; none for other roles. */
export function pushStreamHandler(location: LocationConfig): Handler | undefined {
  if (location.publisher) return publisherHandler;
  if (location.subscriber) return SUBSCRIBERS[location.subscriber];
  return undefined;
}
