import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Agent } from "node:http";
import { connect } from "node:net";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { assertNoCache, assertRefusal, parseHead, request, sleep, start, withServer, type RawConfig } from "../support/helpers.js";
import { launch } from "../support/launch.js";

/** GET /health: 200 with a one-line JSON status while serving; 503 once PushServer.close() drains. */

function config(): RawConfig {
  return {
    servers: [{
      listen: "127.0.0.1:0",
      locations: [
        { path: "/pub", publisher: "normal", channelsPath: "$arg_id" },
        { path: "/health", health: true },
      ],
    }],
  };
}

describe("GET /health", () => {
  test("200 with a one-line JSON status", async () => {
    await withServer(config(), async (app) => {
      assert.equal((await request(app.port(), "/pub?id=a", { method: "POST", body: "x" })).status, 200);
      const reply = await request(app.port(), "/health");
      assert.equal(reply.status, 200);
      assert.equal(reply.headers["content-type"], "application/json");
      assertNoCache(reply);
      assert.match(reply.text, /^[^\n]*\n$/, "one line");
      const status = JSON.parse(reply.text) as Record<string, unknown>;
      assert.equal(status.status, "ok");
      assert.equal(status.channels, 1);
      assert.equal(status.subscribers, 0);
      assert.equal(typeof status.uptime, "number");
    });
  });

  test("POST → 405 Allow: GET, HEAD", async () => {
    await withServer(config(), async (app) => {
      const reply = await request(app.port(), "/health", { method: "POST", body: "x" });
      assertRefusal(reply, 405, "Method not allowed.");
      assert.equal(reply.headers["allow"], "GET, HEAD");
    });
  });

  test("503 while the server drains on shutdown", async () => {
    const app = await start(config());
    // A request whose headers are still arriving when close() begins: its connection is not idle,
    // so it is answered during the drain.
    const socket = connect(app.port(), "127.0.0.1");
    const chunks: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    const ended = new Promise<void>((resolve) => socket.on("close", () => resolve()));
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    socket.write("GET /health HTTP/1.1\r\nHost: x\r\n");
    await sleep(50); // the server has read the partial head
    const closing = app.push.close(2000);
    assert.equal(app.push.ctx.draining, true);
    socket.write("Connection: close\r\n\r\n");
    await ended;
    await closing;
    const { status, headers, body } = parseHead(Buffer.concat(chunks).toString("latin1"));
    assert.equal(status, 503);
    assert.equal(headers.get("content-type"), "application/json");
    assert.equal(JSON.parse(body).status, "draining");
  });

  test("SIGTERM: the health listener stays open for workerShutdownTimeout and answers 503 on kept and new connections; others close at once", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pushwire-health-"));
    const file = join(dir, "pushwire.json");
    writeFileSync(file, JSON.stringify({
      workerShutdownTimeout: "1s",
      servers: [
        { listen: "127.0.0.1:0", locations: [{ path: "/sub", subscriber: "long-polling", channelsPath: "$arg_id" }, { path: "/health", health: true }] },
        { listen: "127.0.0.1:0", locations: [{ path: "/pub", publisher: "normal", channelsPath: "$arg_id" }] },
      ],
    }));
    const app = await launch(["--config", file]);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const [healthPort, pubPort] = app.ports as [number, number];
      const before = await request(healthPort, "/health", { agent });
      assert.equal(before.status, 200);
      const sent = Date.now();
      app.child.kill("SIGTERM");
      await app.waitFor(/SIGTERM: stopping, answering 0 held subscriber\(s\); health checks answer 503 for 1s/);
      await sleep(50);
      const kept = await request(healthPort, "/health", { agent });
      assert.equal(kept.localPort, before.localPort, "the load balancer's keep-alive connection");
      const fresh = await request(healthPort, "/health");
      for (const reply of [kept, fresh]) {
        assert.equal(reply.status, 503);
        assert.equal((JSON.parse(reply.text) as { status: string }).status, "draining");
      }
      await assert.rejects(request(pubPort, "/pub?id=a", { method: "POST", body: "x" }), /ECONNREFUSED/, "a listener without health closes at once");
      assert.equal(await app.exited, 0);
      const took = Date.now() - sent;
      assert.ok(took >= 900 && took < 3000, `exited after the 1 s drain, took ${took} ms`);
      await assert.rejects(request(healthPort, "/health"), /ECONNREFUSED/);
    } finally {
      agent.destroy();
      await app.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
