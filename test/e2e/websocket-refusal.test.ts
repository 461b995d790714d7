import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { start, type Running } from "../support/helpers.js";
import { bitrixSdkConfig } from "../support/bitrix-site.js";

/**
 * A WebSocket refused after the handshake (authorizedChannelsOnly and no stored message, the
 * 403 Bitrix clients loop on until PHP re-opens the channel) is a close frame 1008 carrying
 * push-stream's JSON, and then the server closes the connection itself: a refused socket must
 * not stay open on the server (one descriptor per refusal) nor keep a graceful stop waiting.
 */

const KEY = "dGhlIHNhbXBsZSBub25jZQ==";

function upgrade(port: number, channel: string): string {
  return `GET /bitrix/subws/?CHANNEL_ID=${channel} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n`
    + `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\nOrigin: http://site.example\r\n\r\n`;
}

/** A client that never closes its side (half-open allowed), collecting what the server sends until its FIN. */
function stubbornClient(port: number, bytes: string): Promise<{ socket: Socket; received: Buffer }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: "127.0.0.1", allowHalfOpen: true });
    const chunks: Buffer[] = [];
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("end", () => resolve({ socket, received: Buffer.concat(chunks) }));
    socket.on("error", reject);
    socket.write(bytes);
  });
}

function connections(app: Running): Promise<number> {
  return new Promise((resolve, reject) => app.push.listeners[0]!.server.getConnections((error, count) => (error ? reject(error) : resolve(count))));
}

describe("websocket refusal after the handshake", () => {
  test("close frame 1008 with the JSON reason, then the server closes the connection even if the client does not", async () => {
    const app = await start(bitrixSdkConfig());
    const clients: Socket[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const { socket, received } = await stubbornClient(app.port(0), upgrade(app.port(0), "a".repeat(32)));
        clients.push(socket);
        const text = received.toString("latin1");
        assert.match(text, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
        const frame = received.subarray(text.indexOf("\r\n\r\n") + 4);
        assert.equal(frame[0], 0x88, "a final close frame");
        assert.equal(frame.readUInt16BE(2), 1008);
        assert.equal(frame.subarray(4, 2 + frame[1]!).toString(), '{"http_status": 403, "explain":"Subscriber could not create channels."}');
      }
      // The clients still hold their sides open; the server has let go of all three.
      let open = await connections(app);
      for (let tries = 0; open > 0 && tries < 100; tries++) {
        await new Promise((r) => setTimeout(r, 10));
        open = await connections(app);
      }
      assert.equal(open, 0, "no refused socket left open on the server");
    } finally {
      for (const socket of clients) socket.destroy();
      const stopped = app.close().then(() => "stopped");
      const timeout = new Promise((r) => setTimeout(() => r("still waiting"), 2000).unref());
      assert.equal(await Promise.race([stopped, timeout]), "stopped");
    }
  });
});
