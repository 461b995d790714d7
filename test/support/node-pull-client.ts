import { Agent } from "node:http";
import { B24PullClientManager } from "@bitrix24/b24jssdk";
import { NodeWebSocket } from "./websocket-standin.js";
import { NodeXMLHttpRequest } from "./xhr-standin.js";
import { SITE_ID, USER_ID, type PullClientFactory, type PullClientUnderTest, type ReceivedEvent, type WireEvent } from "./pull-client.js";

/**
 * The SDK's PullClient in this Node process. Node 20 has no XMLHttpRequest, WebSocket or window,
 * so for the client's lifetime the globals are the stand-ins (xhr-standin.ts, websocket-standin.ts)
 * and `window` is a bare EventTarget carrying `WebSocket` — which is what the SDK tests
 * (`window.WebSocket`) before it will use WebSockets; the config's `websocket_enabled` then picks
 * the transport. No `localStorage`: the SDK's storage manager then skips caching, so every
 * client starts from `pull.config.get` (as a fresh browser profile would).
 *
 * The page's origin is a port nothing listens on, so every long-poll is cross-origin and needs
 * pushwire's CORS answer, as in a browser.
 */

const PAGE_ORIGIN = "http://127.0.0.1:9";

export const startNodePullClient: PullClientFactory = async (config) => {
  const received: ReceivedEvent[] = [];
  const wire: WireEvent[] = [];
  const agent = new Agent({ keepAlive: true, maxSockets: 6 });
  const globals = globalThis as Record<string, unknown>;
  const saved = { XMLHttpRequest: globals["XMLHttpRequest"], WebSocket: globals["WebSocket"], window: globals["window"], document: globals["document"] };

  NodeXMLHttpRequest.environment = {
    origin: PAGE_ORIGIN,
    agent,
    onExchange: ({ url, status }) => wire.push({ kind: "http", url, status }),
  };
  NodeWebSocket.environment = {
    origin: PAGE_ORIGIN,
    onClose: (url, code) => wire.push({ kind: "ws-close", url, status: code }),
  };
  globals["XMLHttpRequest"] = NodeXMLHttpRequest;
  globals["WebSocket"] = NodeWebSocket;
  globals["window"] = Object.assign(new EventTarget(), { WebSocket: NodeWebSocket });
  // What the SDK reads of `document`: the page's location (secure or not) and, for server
  // version 4, whether it is IE (`"attachEvent" in document`).
  globals["document"] = { location: { href: `${PAGE_ORIGIN}/` } };

  // The REST client: only `actions.v2.call.make` is used by the pull client (BITRIX.md §9).
  const b24 = {
    actions: {
      v2: {
        call: {
          make: async ({ method }: { method: string }) => {
            if (method !== "pull.config.get") throw new Error(`unexpected REST call ${method}`);
            const result = structuredClone(await config());
            return { getData: () => ({ result }) };
          },
        },
      },
    },
  };
  const client = new B24PullClientManager({ b24: b24 as never, userId: USER_ID, siteId: SITE_ID });
  for (const moduleId of ["im", "pull"]) {
    client.subscribe({
      moduleId,
      callback: (data: { command: string; params: Record<string, unknown> }) => {
        received.push({ moduleId, command: data.command, params: data.params });
      },
    } as never);
  }
  client.subscribe({
    type: "client",
    moduleId: "im",
    callback: (data: { command: string; params: Record<string, unknown> }) => {
      received.push({ moduleId: "im", fromClient: true, command: data.command, params: data.params });
    },
  } as never);
  // start() resolves only once "connected" (up to 5 s into a held poll); the tests watch pushwire instead.
  client.start().catch(() => {});

  const handle: PullClientUnderTest = {
    received,
    wire,
    sendToChannels: async (channels, moduleId, command, params) => {
      await client.sendMessageToChannels(channels, moduleId, command, params);
    },
    restart: async () => client.restart(),
    close: async () => {
      client.destroy();
      agent.destroy();
      NodeXMLHttpRequest.environment = null;
      NodeWebSocket.environment = null;
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete globals[name];
        else globals[name] = value;
      }
    },
  };
  return handle;
};
