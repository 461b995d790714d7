import { createHash } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { refusals } from "../core/refusal.js";
import type { PushResponse } from "../http/push-response.js";
import { addNoCache, sendRefusal } from "../http/respond.js";
import { WEBSOCKET_GUID } from "./ws-frame.js";

const SUPPORTED_VERSIONS = new Set(["8", "13"]);

/**
 * The server side of the RFC 6455 opening handshake, shared by every WebSocket location
 * (push-stream's and bitrix-push2's): GET only, the four mandatory headers, version 8 or 13, and
 * a real upgrade. A bad handshake is answered over HTTP with push-stream's explain and gives
 * undefined; a good one gets the 101 and hands back the socket, detached from the response.
 */
export function acceptWebSocket(req: IncomingMessage, res: ServerResponse): Socket | undefined {
  if (req.method !== "GET") return void sendRefusal(res, refusals.methodNotAllowed, ["Allow", "GET"]);
  const headers = req.headers;
  if (!headers.connection || !headers.upgrade || !headers["sec-websocket-key"] || !headers["sec-websocket-version"]) {
    return void sendRefusal(res, refusals.websocketHeadersMissing, addNoCache([]));
  }
  if (!SUPPORTED_VERSIONS.has(String(headers["sec-websocket-version"]).trim())) {
    return void sendRefusal(res, refusals.websocketVersion, addNoCache(["Sec-WebSocket-Version", "8, 13"]));
  }
  const push = res as PushResponse;
  const socket = push.socket;
  // Only an upgrade hands us the socket; a plain request with the headers cannot switch.
  if (push.upgradeHead === null || !socket) return void sendRefusal(res, refusals.websocketNotUpgrade, addNoCache([]));
  push.detachSocket(socket);
  socket.write(handshake(String(headers["sec-websocket-key"]).trim()));
  return socket;
}

/** The 101 answer to a handshake with this Sec-WebSocket-Key. */
function handshake(key: string): string {
  const accept = createHash("sha1").update(key + WEBSOCKET_GUID).digest("base64");
  const noCache = addNoCache([]);
  return "HTTP/1.1 101 Switching Protocols\r\n"
    + `${noCache[0]}: ${noCache[1]}\r\n${noCache[2]}: ${noCache[3]}\r\n`
    + `Upgrade: WebSocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`;
}
