import { ServerResponse, type IncomingMessage } from "node:http";
import type { Held } from "./context.js";
import type { ServerMetrics } from "./server-metrics.js";

/**
 * node:http's response with one extra slot: the subscriber waiting on it. That lets one shared
 * 'close' listener find the subscriber without a closure per request.
 */
export class PushResponse<Request extends IncomingMessage = IncomingMessage> extends ServerResponse<Request> {
  held: Held | null = null;
  /** For a request that arrived as an HTTP upgrade: the bytes the client sent after its headers. */
  upgradeHead: Buffer | null = null;
  /** Set by the router: where refusals are counted. */
  metrics: ServerMetrics | null = null;
}

/** Shared 'close' listener of held responses: the client went away before we answered. */
export function abortHeldOnClose(this: PushResponse): void {
  const held = this.held;
  if (held) {
    this.held = null;
    held.abort();
  }
}
