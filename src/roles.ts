import { dashboardHandler } from "./dashboard/dashboard.js";
import { push2Handler } from "./bitrix-push2/handlers.js";
import type { LocationConfig } from "./config/schema.js";
import { healthHandler } from "./observe/health.js";
import { metricsHandler } from "./observe/metrics.js";
import { statisticsHandler } from "./observe/statistics.js";
import { pushStreamHandler } from "./push-stream/handlers.js";
import type { Handler } from "./routing/route.js";

/**
 * The role → handler table, in one place: a location's protocol and role pick its handler; a
 * location with none only answers 403 (deny) or 404.
 */
export function handlerFor(location: LocationConfig): Handler | undefined {
  if (location.protocol === "bitrix-push2") return push2Handler(location);
  if (location.publisher || location.subscriber) return pushStreamHandler(location);
  if (location.channelsStatistics) return statisticsHandler;
  if (location.metrics) return metricsHandler;
  if (location.health) return healthHandler;
  if (location.dashboard) return dashboardHandler;
  return undefined;
}

/** A location's role in a word or two ("publisher admin", "long-polling", "metrics", "deny"), for logs and the dashboard. */
export function locationRole(l: LocationConfig): string {
  if (l.publisher) return `publisher ${l.publisher}`;
  if (l.subscriber) return l.subscriber;
  return l.channelsStatistics ? "statistics" : l.metrics ? "metrics" : l.health ? "health" : l.dashboard ? "dashboard" : l.access ? "deny" : "none";
}
