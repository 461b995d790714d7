import { createHash } from "node:crypto";
import type { Socket } from "node:net";
import { refusals } from "../core/refusal.js";
import type { PushReply, PushRequest } from "../http/exchange.js";
import { addNoCache } from "../routing/answers.js";
import type { Route } from "../routing/route.js";
import { WEBSOCKET_GUID } from "./frame.js";

const SUPPORTED_VERSIONS = new Set(["8", "13"]);

/** A socket that completed the opening handshake, with the bytes the client sent after its head. */
export interface AcceptedSocket {
  socket: Socket;
  head: Buffer;
}

/**
 * The server side of the RFC 6455 opening handshake, shared by every WebSocket location
 * (push-stream's and bitrix-push2's): GET only, the four mandatory headers, version 8 or 13, and
 * a real upgrade. A bad handshake is answered over HTTP with push-stream's explain and gives
 * undefined; a good one gets the 101 and hands back the socket, taken from the reply.
 */
export function acceptWebSocket(route: Route, request: PushRequest, reply: PushReply): AcceptedSocket | undefined {
  if (request.method !== "GET") return void route.refuse(reply, refusals.methodNotAllowed, ["Allow", "GET"]);
  const key = request.header("sec-websocket-key");
  const version = request.header("sec-websocket-version");
  if (!request.header("connection") || !request.header("upgrade") || !key || !version) {
    return void route.refuse(reply, refusals.websocketHeadersMissing, addNoCache([]));
  }
  if (!SUPPORTED_VERSIONS.has(version.trim())) {
    return void route.refuse(reply, refusals.websocketVersion, addNoCache(["Sec-WebSocket-Version", "8, 13"]));
  }
  // Only an upgrade hands us the socket; a plain request with the headers cannot switch.
  const taken = request.upgrade ? reply.takeSocket() : undefined;
  if (!taken) return void route.refuse(reply, refusals.websocketNotUpgrade, addNoCache([]));
  taken.socket.write(handshake(key.trim()));
  return taken;
}

/** The 101 answer to a handshake with this Sec-WebSocket-Key. */
function handshake(key: string): string {
  const accept = createHash("sha1").update(key + WEBSOCKET_GUID).digest("base64");
  const noCache = addNoCache([]);
  return "HTTP/1.1 101 Switching Protocols\r\n"
    + `${noCache[0]}: ${noCache[1]}\r\n${noCache[2]}: ${noCache[3]}\r\n`
    + `Upgrade: WebSocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`;
}
