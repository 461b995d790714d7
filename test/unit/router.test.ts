import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { LocationConfig } from "../../src/config/schema.js";
import type { PushReply, PushRequest } from "../../src/http/exchange.js";
import type { Handler } from "../../src/routing/route.js";
import { Router } from "../../src/routing/router.js";
import { serverConfig, testContext } from "../support/context.js";
import { FakeReply, FakeRequest } from "../support/fake-exchange.js";

const EXPLAIN = "X-Nginx-PushStream-Explain";

/** A router over these locations whose handlers answer 200 with their location's path (or run `special[path]`). */
function router(locations: Record<string, unknown>[], special: Record<string, Handler> = {}) {
  const { server, http } = serverConfig(locations);
  const { ctx, log } = testContext(http);
  const table = (location: LocationConfig): Handler | undefined =>
    special[location.path] ?? (location.subscriber || location.publisher
      ? (route, _request, reply) => reply.send(200, [], [Buffer.from(route.config.path)])
      : undefined);
  return { router: new Router(ctx, server, table), ctx, log };
}

function serve(r: Router, request: PushRequest): FakeReply {
  const reply = new FakeReply();
  r.serve(request, reply);
  return reply;
}

const get = (url: string, headers: Record<string, string> = { host: "x" }): FakeRequest => new FakeRequest("GET", url, headers);

describe("Router: which location serves a path", () => {
  const locations = [
    { path: "/", subscriber: "long-polling" },
    { path: "/bitrix/sub", subscriber: "long-polling" },
    { path: "/bitrix/sub/ws", subscriber: "websocket" },
  ];

  test("the longest matching prefix wins, whatever the order of the locations", () => {
    const { router: r } = router(locations);
    assert.equal(serve(r, get("/bitrix/sub?CHANNEL_ID=a")).text, "/bitrix/sub");
    assert.equal(serve(r, get("/bitrix/sub/ws/x")).text, "/bitrix/sub/ws");
    assert.equal(serve(r, get("/bitrix/subscribe")).text, "/bitrix/sub", "a prefix, not a path segment (nginx ^~)");
    assert.equal(serve(r, get("/other")).text, "/");
    assert.equal(r.match("/bitrix/sub/ws")?.config.path, "/bitrix/sub/ws");
  });

  test("the path is percent-decoded before matching; the query is not part of it", () => {
    const { router: r } = router(locations);
    assert.equal(serve(r, get("/bitrix/%73ub/%77s")).text, "/bitrix/sub/ws");
    assert.equal(serve(r, get("/x?/bitrix/sub")).text, "/");
  });

  test("no matching location: 404 with the reason, counted as rejected", () => {
    const { router: r, ctx } = router([{ path: "/sub", subscriber: "long-polling" }]);
    const reply = serve(r, get("/pub"));
    assert.equal(reply.status, 404);
    assert.equal(reply.header(EXPLAIN), "No location matches this path.");
    assert.equal(ctx.metrics.rejected.get(404), 1);
  });

  test("a location with neither publisher nor subscriber answers 404", () => {
    const { router: r } = router([{ path: "/empty" }]);
    const reply = serve(r, get("/empty"));
    assert.equal(reply.status, 404);
    assert.equal(reply.header(EXPLAIN), "This location has no publisher or subscriber.");
  });
});

describe("Router: refusals before any handler runs", () => {
  const locations = [{ path: "/sub", subscriber: "long-polling", rejectArgs: ["secret"] }, { path: "/pub", publisher: "admin", allow: ["127.0.0.1"], deny: "all" }];

  test("HTTP/1.1 without Host: 400 and the connection closes; HTTP/1.0 without Host is served", () => {
    const { router: r } = router(locations);
    const missing = serve(r, get("/sub?id=a", {}));
    assert.equal(missing.status, 400);
    assert.equal(missing.header("Connection"), "close");
    assert.equal(missing.header(EXPLAIN), "HTTP/1.1 request without Host header.");
    const old = serve(r, new FakeRequest("GET", "/sub?id=a", {}, undefined, { versionMinor: 0 }));
    assert.equal(old.status, 200);
  });

  test("an upgrade request that carries a body: 400, and the handler never sees it", () => {
    const { router: r } = router(locations);
    for (const body of [{ "content-length": "5" }, { "transfer-encoding": "chunked" }] as Record<string, string>[]) {
      const reply = serve(r, get("/sub", { host: "x", connection: "Upgrade", upgrade: "websocket", ...body }));
      assert.equal(reply.status, 400, JSON.stringify(body));
      assert.equal(reply.header(EXPLAIN), "An upgrade request cannot carry a body.");
    }
    assert.equal(serve(r, get("/sub", { host: "x", connection: "Upgrade", upgrade: "websocket", "content-length": "0" })).status, 200);
  });

  test("a rejected argument with a value: 400 naming it; an empty one passes", () => {
    const { router: r } = router(locations);
    const reply = serve(r, get("/sub?id=a&SECRET=1"));
    assert.equal(reply.status, 400);
    assert.equal(reply.header(EXPLAIN), "Argument secret is not allowed here.");
    assert.equal(serve(r, get("/sub?id=a&secret=")).status, 200);
  });

  test("an address the location denies: 403", () => {
    const { router: r } = router(locations);
    const reply = serve(r, new FakeRequest("GET", "/pub", { host: "x" }, undefined, { remoteAddress: "10.0.0.1" }));
    assert.equal(reply.status, 403);
    assert.equal(reply.header(EXPLAIN), "Access denied for this address.");
    assert.equal(serve(r, get("/pub")).status, 200, "127.0.0.1 is allowed");
  });
});

describe("Router: a failing handler", () => {
  test("a throw before answering: 500 with Connection: close, logged with the request", () => {
    const { router: r, log } = router([{ path: "/boom", subscriber: "long-polling" }], {
      "/boom": () => {
        throw new Error("kaput");
      },
    });
    const reply = serve(r, get("/boom?x=1"));
    assert.equal(reply.status, 500);
    assert.equal(reply.header("Connection"), "close");
    assert.equal(reply.header(EXPLAIN), "Internal server error; see the server log.");
    assert.equal(log.lines.length, 1);
    assert.match(log.lines[0]!, /^error internal error on GET \/boom\?x=1 from 127\.0\.0\.1: Error: kaput/);
  });

  test("a throw after the answer started: the connection is cut, not answered twice", () => {
    let started: PushReply | undefined;
    const { router: r } = router([{ path: "/boom", subscriber: "streaming" }], {
      "/boom": (_route, _request, reply) => {
        started = reply;
        reply.start(200, []);
        throw new Error("late");
      },
    });
    const reply = serve(r, get("/boom"));
    assert.equal(started, reply);
    assert.equal(reply.status, 200);
    assert.ok(reply.done, "destroyed");
  });
});
