/**
 * The floor under publishing on Node: a bare node:net server (no parsing, no store) that answers
 * every request it reads with one prebuilt 200 the size of pushwire's publish answer, keeping the
 * connection alive or closing it as the request asks. `npm run bench` runs wrk against it beside
 * pushwire and Nchan (the publish rows' node:net floor column); by hand:
 *
 *   node build/bench/publish-floor.js          # prints {"port": N}, then serves until killed
 *   wrk -t2 -c50 -d8s -s bench/publish-many.lua http://127.0.0.1:N/bitrix/pub/ [-- close]
 *
 * Counts requests by their blank line, which holds for wrk's small whole requests (the bench's only
 * client); loopback only.
 */
import { createServer, type Socket } from "node:net";

const BODY = `{"channel": "w1234", "published_messages": 1, "stored_messages": 1, "subscribers": 0}\r\n`;
const head = (connection: string): string =>
  "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nExpires: Thu, 01 Jan 1970 00:00:01 GMT\r\n" +
  `Cache-Control: no-cache, no-store, must-revalidate\r\nContent-Length: ${BODY.length}\r\n` +
  `Date: Thu, 26 Nov 2026 00:00:00 GMT\r\n${connection}\r\n`;
const KEEP_ALIVE = Buffer.from(head("Connection: keep-alive\r\nKeep-Alive: timeout=75\r\n") + BODY, "latin1");
const CLOSE = Buffer.from(head("Connection: close\r\n") + BODY, "latin1");
const BLANK_LINE = Buffer.from("\r\n\r\n");
const CLOSE_HEADER = Buffer.from("Connection: close");

function answer(this: Socket, chunk: Buffer): void {
  for (let at = chunk.indexOf(BLANK_LINE); at >= 0; at = chunk.indexOf(BLANK_LINE, at + 4)) {
    if (chunk.includes(CLOSE_HEADER)) {
      this.end(CLOSE);
      return;
    }
    this.write(KEEP_ALIVE);
  }
}

// The options pushwire's lean listener uses.
const server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
  socket.on("data", answer);
  socket.on("end", () => socket.end());
  socket.on("error", () => socket.destroy());
});
server.listen(0, "127.0.0.1", () => {
  console.log(JSON.stringify({ port: (server.address() as { port: number }).port }));
});
process.on("SIGTERM", () => process.exit(0));
