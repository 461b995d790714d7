import type { RawConfig } from "./helpers.js";

/**
 * The dashboard suites' server: subscribers of every push-stream mode on one listener, and on
 * the other (loopback, as BitrixVM's 8895) the publisher, /metrics, the events channel's readers
 * and two dashboards: /dashboard/ with the test-message form, /ro/ read-only.
 */
export function dashboardConfig(extra: RawConfig = {}): RawConfig {
  const generic = { channelsPath: "$arg_id" };
  return {
    eventsChannelId: "pushwire-events",
    ...extra,
    servers: [
      {
        listen: "127.0.0.1:0",
        locations: [
          { path: "/lp/", subscriber: "long-polling", ...generic, longpollingConnectionTtl: "30s" },
          { path: "/poll/", subscriber: "polling", ...generic },
          { path: "/stream/", subscriber: "streaming", ...generic },
          { path: "/ev/", subscriber: "eventsource", ...generic },
          { path: "/ws/", subscriber: "websocket", ...generic },
          { path: "/", deny: "all" },
        ],
      },
      {
        listen: "127.0.0.1:0",
        locations: [
          { path: "/pub/", publisher: "admin", ...generic, storeMessages: true },
          { path: "/metrics", metrics: true },
          { path: "/dashboard/", dashboard: true, dashboardPublish: true, allow: ["127.0.0.0/8", "::1"], deny: "all" },
          { path: "/ro/", dashboard: true },
          { path: "/", deny: "all" },
        ],
      },
    ],
  };
}

/** The value of an unlabelled (or exactly labelled) sample in a /metrics text. */
export function metricValue(text: string, name: string, labels = ""): number {
  const key = labels ? `${name}{${labels}}` : name;
  const line = text.split("\n").find((l) => l.startsWith(`${key} `));
  if (line === undefined) throw new Error(`no ${key} in /metrics`);
  return Number(line.slice(key.length + 1));
}
