import { bitrixVmConfig, LOOPBACK_ONLY, type BitrixVmTls } from "./bitrixvm.js";

const DASHBOARD_NOTE = "the live dashboard: open http://127.0.0.1:8895/dashboard/ (from elsewhere: ssh -L 8895:127.0.0.1:8895 server); \"dashboardPublish\": true adds a test-message form";

/**
 * The starter layout (`--layout all`): BitrixVM's locations plus one location per push-stream
 * subscriber mode, a generic publisher, channel statistics, /metrics and /health — each with a
 * "//" note saying what it is and how to try it. `pushwire --print-config --layout all` writes it
 * as a file to edit; `pushwire --layout all` serves it as it is.
 */
export function allModesConfig(tls?: BitrixVmTls): Record<string, unknown> {
  const bitrix = bitrixVmConfig(tls) as { servers: { listen: string; ssl?: unknown; locations: object[] }[] };
  const generic = { channelsPath: "$arg_id", allowedOrigins: "*" };
  const browserLocations = [
    {
      "//": "curl -i 'http://127.0.0.1:8893/lp/?id=news' — held up to 40 s, then 304; a message ends it with 200",
      path: "/lp/", subscriber: "long-polling", ...generic, longpollingConnectionTtl: "40s",
    },
    {
      "//": "curl -i 'http://127.0.0.1:8893/poll/?id=news' — answers at once: 200 with what is new, or 304",
      path: "/poll/", subscriber: "polling", ...generic,
    },
    {
      "//": "curl -N 'http://127.0.0.1:8893/stream/?id=news' — one chunked response, a line per message",
      path: "/stream/", subscriber: "streaming", ...generic, messageTemplate: "~text~\n", pingMessageInterval: "30s",
    },
    {
      "//": "curl -N 'http://127.0.0.1:8893/ev/?id=news', or new EventSource(...) in a browser",
      path: "/ev/", subscriber: "eventsource", ...generic, pingMessageInterval: "30s",
    },
    {
      "//": "new WebSocket('ws://127.0.0.1:8893/ws/?id=news'): a text frame per message",
      path: "/ws/", subscriber: "websocket", channelsPath: "$arg_id", pingMessageInterval: "30s",
    },
  ];
  const siteLocations = [
    {
      "//": "curl -d 'hello' 'http://127.0.0.1:8895/pub/?id=news' publishes (stored); GET gives the channel's info, DELETE removes it",
      path: "/pub/", publisher: "admin", channelsPath: "$arg_id", storeMessages: true, ...LOOPBACK_ONLY,
    },
    {
      "//": "curl 'http://127.0.0.1:8895/channels-stats?id=ALL' — every channel; ?id=news one; no id: the summary",
      path: "/channels-stats", channelsStatistics: true, channelsPath: "$arg_id", ...LOOPBACK_ONLY,
    },
    { "//": "Prometheus text format", path: "/metrics", metrics: true, ...LOOPBACK_ONLY },
    {
      "//": "200, or 503 while shutting down; for a load balancer, move it to a listener the balancer reaches",
      path: "/health", health: true, ...LOOPBACK_ONLY,
    },
  ];
  const servers = bitrix.servers.map((server) => {
    // Each BitrixVM listener ends with its deny-all "/"; the new locations go before it.
    const rest = server.locations.slice(0, -1).map((location) => ("dashboard" in location ? { "//": DASHBOARD_NOTE, ...location } : location));
    const denyRest = { "//": "every other path: 403", ...server.locations.at(-1) };
    const added = server.listen === "127.0.0.1:8895" ? siteLocations : browserLocations;
    return { ...server, locations: [...rest, ...added, denyRest] };
  });
  return {
    "//": "pushwire's starter configuration: BitrixVM's layout (/bitrix/sub, /bitrix/subws/, /bitrix/pub/) and one location per mode. Keys are push_stream_* directives, camelCased; \"//\" keys are notes.",
    ...bitrix,
    servers,
  };
}
