import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { normalizeConfig, type PushwireConfig } from "../../src/config/schema.js";
import {
  assertRefusal, bitrixLikeConfig, envelopes, httpDate, lastStored, openRequest, publish, publishOk, request, waitFor, withServer,
  EPOCH, type RawConfig,
} from "../support/helpers.js";
import { launch } from "../support/launch.js";

/** PushServer.reload: what SIGHUP applies, over real sockets. */

function config(raw: RawConfig): PushwireConfig {
  const result = normalizeConfig(raw);
  if (result.errors) throw new Error(result.errors.join("; "));
  return result.config;
}

const catchUp = (channel: string): string => `/bitrix/sub?CHANNEL_ID=${channel}&tag=0&time=${encodeURIComponent(EPOCH)}`;

test("location changes apply to new requests; a held long-poll and stored messages stay", async () => {
  await withServer({}, async (app) => {
    await publishOk(app, "r1", '"stored"');
    const { tag, time } = lastStored(app, "r1");
    const held = openRequest(app.port(0), `/bitrix/sub?CHANNEL_ID=r1&tag=${tag}&time=${encodeURIComponent(httpDate(time))}`);
    await waitFor(() => app.push.ctx.held.size === 1, 2000, "the long-poll to be held");

    // The subscriber location moves to /v2/sub and gets another template.
    const next = bitrixLikeConfig({ sub: { path: "/v2/sub", messageTemplate: "[~text~]" } });
    const ports = [app.port(0), app.port(1)];
    const report = await app.push.reload(config(next));
    assert.deepEqual(report, { changes: [], needRestart: [] });
    assert.deepEqual([app.port(0), app.port(1)], ports, "both listeners kept");

    assertRefusal(await request(app.port(0), catchUp("r1")), 403, "No location serves this path on this port."); // now caught by "/" deny all
    const moved = await request(app.port(0), `/v2/sub?CHANNEL_ID=r1&tag=0&time=${encodeURIComponent(EPOCH)}`);
    assert.equal(moved.status, 200);
    assert.equal(moved.text, '["stored"]', "the stored message, with the new template");

    await publishOk(app, "r1", '"live"');
    const delivered = await held.reply;
    assert.equal(delivered.status, 200);
    assert.deepEqual(envelopes(delivered.text).map((e) => e.text), ["live"], "the held request keeps the location it was routed with");
  });
});

test("a new listen address is opened and a removed one closed; the kept one is untouched", async () => {
  await withServer({}, async (app) => {
    const [subPort, pubPort] = [app.port(0), app.port(1)];
    await publishOk(app, "r2", '"x"');
    const raw = bitrixLikeConfig();
    const [sub, pub] = raw.servers as RawConfig[];
    // The publisher moves to another loopback address; 127.0.0.1's publisher is removed.
    const report = await app.push.reload(config({ ...raw, servers: [sub, { ...pub, listen: "127.0.0.2:0" }] }));
    assert.equal(app.push.listeners.length, 2);
    assert.equal(app.port(0), subPort);
    const newPort = app.push.listeners[1]!.address.port;
    assert.deepEqual(report.changes, ["127.0.0.1:0 closed", `127.0.0.2:0 opened on port ${newPort}`]);

    await assert.rejects(publish(pubPort, "r2", '"y"'), /ECONNREFUSED/);
    const published = await new Promise<number>((resolve, reject) => {
      const req = httpRequest({ host: "127.0.0.2", port: newPort, path: "/bitrix/pub/?CHANNEL_ID=r2", method: "POST" }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on("error", reject);
      req.end('"y"');
    });
    assert.equal(published, 200);
    const caught = await request(subPort, catchUp("r2"));
    assert.deepEqual(envelopes(caught.text).map((e) => e.text), ["x", "y"]);
  });
});

test("http-level keys apply live, except those that need a restart, which are reported and keep their value", async () => {
  await withServer({}, async (app) => {
    await publishOk(app, "r3a", '"1"');
    const next = bitrixLikeConfig({ http: { maxNumberOfChannels: 1, clientMaxHeaderSize: "32k", channelDeletedMessageText: "gone" } });
    const report = await app.push.reload(config(next));
    assert.deepEqual(report.needRestart, ["clientMaxHeaderSize"]);
    assert.deepEqual(report.changes, [], "no listener action (the log line names changed keys from the configuration diff)");
    assert.equal(app.push.ctx.http.channelDeletedMessageText, "gone");
    assert.equal(app.push.ctx.http.clientMaxHeaderSize, 16384);
    assertRefusal(await publish(app.port(1), "r3b", '"2"'), 403, "Number of channels were exceeded.");
    assert.equal(app.push.ctx.store.limits.maxNumberOfChannels, 1, "the store reads the same settings object");
  });
});

test("a listen address that cannot be opened refuses the whole reload; nothing changes", async () => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
  const taken = (blocker.address() as { port: number }).port;
  try {
    await withServer({}, async (app) => {
      const before = app.push.config;
      const raw = bitrixLikeConfig({ sub: { path: "/elsewhere" } });
      (raw.servers as RawConfig[]).push({ listen: `127.0.0.1:${taken}`, locations: [{ path: "/", deny: "all" }] });
      await assert.rejects(app.push.reload(config(raw)), /EADDRINUSE/);
      assert.equal(app.push.listeners.length, 2);
      assert.equal(app.push.config, before);
      await publishOk(app, "r4", '"still"');
      assert.equal((await request(app.port(0), catchUp("r4"))).status, 200, "the old locations still serve");
    });
  } finally {
    blocker.close();
  }
});

test("SIGHUP: the reload log line names each changed key with its old and new value; a secret only as changed", async () => {
  const dir = mkdtempSync(join(tmpdir(), "pushwire-reload-"));
  const file = join(dir, "pushwire.json");
  const write = (ttl: string, key: string): void => writeFileSync(file, JSON.stringify({
    securityKey: key,
    servers: [{
      listen: "127.0.0.1:0",
      locations: [{ path: "/", deny: "all" }, { path: "/sub", subscriber: "long-polling", channelsPath: "$arg_id", longpollingConnectionTtl: ttl }],
    }],
  }));
  write("40s", "old-secret");
  const app = await launch(["--config", file]);
  try {
    write("10s", "new-secret");
    const from = app.output().length;
    app.child.kill("SIGHUP");
    const [line] = await app.waitFor(/reload: applied: [^\n]*/, 5000, from);
    assert.equal(line, `reload: applied: securityKey changed; servers[0].locations[1].longpollingConnectionTtl 40s→10s; listen: 127.0.0.1:${app.ports[0]} [/ deny, /sub long-polling]`);
    assert.doesNotMatch(app.output(), /secret/);

    const again = app.output().length;
    app.child.kill("SIGHUP");
    const [unchanged] = await app.waitFor(/reload: applied: [^;]*/, 5000, again);
    assert.equal(unchanged, "reload: applied: no change");
  } finally {
    await app.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
