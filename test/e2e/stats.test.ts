import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { hostname } from "node:os";
import { ManualClock } from "../../src/core/clock.js";
import { normalizeConfig } from "../../src/config/schema.js";
import {
  assertNoCache, assertRefusal, openRequest, request, waitFor, withServer, type PendingRequest, type RawConfig, type Reply, type Running,
} from "../support/helpers.js";

/**
 * The channel statistics location (PROTOCOL.md §11, §18.3/5) over real sockets: every format byte
 * for byte (expected bodies are written out here from push-stream's patterns, not produced by
 * pushwire's code), format negotiation, methods, 404/400.
 */

const T0 = 1_700_000_000_000; // 2023-11-14T22:13:20Z
const TIME = "2023-11-14T22:13:25"; // T0 + 5 s, when the tests ask
const HOST = hostname();
const PID = process.pid;

function config(http: RawConfig = {}, stats: RawConfig = {}): RawConfig {
  return {
    maxChannelIdLength: 10,
    wildcardChannelPrefix: "bc_",
    ...http,
    servers: [{
      listen: "127.0.0.1:0",
      locations: [
        { path: "/pub", publisher: "admin", channelsPath: "$arg_id", storeMessages: true },
        { path: "/sub", subscriber: "long-polling", channelsPath: "$arg_id", longpollingConnectionTtl: "30s" },
        { path: "/stats", channelsStatistics: true, channelsPath: "$arg_id", ...stats },
      ],
    }],
  };
}

/**
 * Channels ch1 (2 stored), ch2 (1 stored, 1 held long-poll), other (1 stored), wildcard bc_w
 * (1 stored); 5 published; clock at T0 + 5 s.
 */
async function withState(run: (app: Running) => Promise<void>, http: RawConfig = {}): Promise<void> {
  const clock = new ManualClock(T0);
  await withServer(config(http), async (app) => {
    const port = app.port();
    for (const [id, body] of [["ch1", "a"], ["ch1", "b"], ["ch2", "c"], ["other", "d"], ["bc_w", "e"]]) {
      const reply = await request(port, `/pub?id=${id}`, { method: "POST", body });
      assert.equal(reply.status, 200);
    }
    const held: PendingRequest = openRequest(port, "/sub?id=ch2", { headers: { "If-Modified-Since": new Date(T0 + 60_000).toUTCString() } });
    await waitFor(() => app.push.ctx.held.size === 1, 2000, "long-poll held");
    clock.advance(5000);
    try {
      await run(app);
    } finally {
      held.abort();
      await held.reply.catch(() => undefined);
    }
  }, { clock });
}

function get(app: Running, query: string, accept?: string): Promise<Reply> {
  return request(app.port(), `/stats${query}`, { headers: accept === undefined ? {} : { Accept: accept } });
}

function assertStats(reply: Reply, contentType: string, body: string): void {
  assert.equal(reply.status, 200, `status (explain ${String(reply.headers["x-nginx-pushstream-explain"])})`);
  assert.equal(reply.headers["content-type"], contentType);
  assert.equal(reply.headers["content-length"], String(Buffer.byteLength(body)));
  assertNoCache(reply);
  assert.ok(reply.headers["x-nginx-pushstream-tag"], "X-Nginx-PushStream-Tag");
  assert.ok(reply.headers["x-nginx-pushstream-commit"], "X-Nginx-PushStream-Commit");
  assert.equal(reply.text, body);
}

const lines = (...parts: string[]): string => parts.join("\r\n");

const ACCEPT = {
  json: "application/json",
  plain: "text/plain",
  yaml: "application/yaml",
  xml: "application/xml",
  xJson: "text/x-json",
  xYaml: "text/x-yaml",
  html: "text/html",
};

describe("statistics: summarized (no id)", () => {
  const summaryJson = `{"hostname": "${HOST}", "time": "${TIME}", "channels": 3, "wildcard_channels": 1, "published_messages": 5, `
    + `"stored_messages": 5, "messages_in_trash": 0, "channels_in_delete": 0, "channels_in_trash": 0, "subscribers": 1, "uptime": 5, "by_worker": [\r\n`
    + `{"pid": "${PID}", "subscribers": 1, "uptime": 5}\r\n]}\r\n`;

  test("JSON by default, with Accept application/json, text/x-json, */* and text/html alone's neighbours", async () => {
    await withState(async (app) => {
      assertStats(await get(app, ""), "application/json", summaryJson);
      assertStats(await get(app, "", ACCEPT.json), "application/json", summaryJson);
      assertStats(await get(app, "", ACCEPT.xJson), "text/x-json", summaryJson);
      assertStats(await get(app, "", "*/*"), "application/json", summaryJson);
      assertStats(await get(app, "?id="), "application/json", summaryJson);
    });
  });

  test("plain text", async () => {
    await withState(async (app) => {
      const body = lines(`hostname: ${HOST}`, `time: ${TIME}`, "channels: 3", "wildcard_channels: 1", "published_messages: 5", "stored_messages: 5",
        "messages_in_trash: 0", "channels_in_delete: 0", "channels_in_trash: 0", "subscribers: 1", "uptime: 5", "by_worker:",
        `  pid: ${PID}`, "  subscribers: 1", "  uptime: 5", "");
      assertStats(await get(app, "", ACCEPT.plain), "text/plain", body);
    });
  });

  test("YAML (application/yaml and text/x-yaml)", async () => {
    await withState(async (app) => {
      const body = lines(`  hostname: ${HOST}`, `  time: ${TIME}`, "  channels: 3", "  wildcard_channels: 1", "  published_messages: 5",
        "  stored_messages: 5", "  messages_in_trash: 0", "  channels_in_delete: 0", "  channels_in_trash: 0", "  subscribers: 1", "  uptime: 5",
        "  by_worker:", "   -", `    pid: ${PID}`, "    subscribers: 1", "    uptime: 5", "");
      assertStats(await get(app, "", ACCEPT.yaml), "application/yaml", body);
      assertStats(await get(app, "", ACCEPT.xYaml), "text/x-yaml", body);
    });
  });

  test("XML", async () => {
    await withState(async (app) => {
      const body = lines('<?xml version="1.0" encoding="UTF-8" ?>', "<infos>", `  <hostname>${HOST}</hostname>`, `  <time>${TIME}</time>`,
        "  <channels>3</channels>", "  <wildcard_channels>1</wildcard_channels>", "  <published_messages>5</published_messages>",
        "  <stored_messages>5</stored_messages>", "  <messages_in_trash>0</messages_in_trash>", "  <channels_in_delete>0</channels_in_delete>",
        "  <channels_in_trash>0</channels_in_trash>", "  <subscribers>1</subscribers>", "  <uptime>5</uptime>",
        "  <by_worker><worker>", `  <pid>${PID}</pid>`, "  <subscribers>1</subscribers>", "  <uptime>5</uptime>", "</worker>", "</by_worker>",
        "</infos>", "");
      assertStats(await get(app, "", ACCEPT.xml), "application/xml", body);
    });
  });

  test("HTML (pushwire)", async () => {
    await withState(async (app) => {
      const row = (a: string | number, b: string | number): string => `<tr><td>${a}</td><td>${b}</td></tr>`;
      const body = lines("<!DOCTYPE html>", `<html><head><meta charset="utf-8"><title>pushwire on ${HOST}</title></head><body>`,
        `<h1>pushwire on ${HOST}</h1>`, "<table>", "<tr><th>name</th><th>value</th></tr>",
        row("hostname", HOST), row("time", TIME), row("channels", 3), row("wildcard_channels", 1), row("published_messages", 5),
        row("stored_messages", 5), row("messages_in_trash", 0), row("channels_in_delete", 0), row("channels_in_trash", 0),
        row("subscribers", 1), row("uptime", 5), "</table>", "<table>", "<tr><th>pid</th><th>subscribers</th><th>uptime</th></tr>",
        `<tr><td>${PID}</td><td>1</td><td>5</td></tr>`, "</table>", "</body></html>", "");
      assertStats(await get(app, "", ACCEPT.html), "text/html; charset=utf-8", body);
    });
  });

  test("the events channel and event messages are not counted as published or stored", async () => {
    await withState(async (app) => {
      const reply = await get(app, "", ACCEPT.plain);
      assert.match(reply.text, /\r\nchannels: 4\r\n/, "the events channel is a channel");
      assert.match(reply.text, /\r\npublished_messages: 5\r\nstored_messages: 5\r\n/);
    }, { eventsChannelId: "events" });
  });
});

/** One channel in each format, as push-stream writes it. */
const single = {
  json: (id: string, pub: number, stored: number, subs: number) =>
    `{"channel": "${id}", "published_messages": ${pub}, "stored_messages": ${stored}, "subscribers": ${subs}}`,
  plain: (id: string, pub: number, stored: number, subs: number) =>
    lines(`channel: ${id}`, `published_messages: ${pub}`, `stored_messages: ${stored}`, `active_subscribers: ${subs}`),
  yaml: (id: string, pub: number, stored: number, subs: number) =>
    lines(`  channel: ${id}`, `  published_messages: ${pub}`, `  stored_messages: ${stored}`, `  subscribers: ${subs}`),
  xml: (id: string, pub: number, stored: number, subs: number) =>
    lines("<channel>", `  <name>${id}</name>`, `  <published_messages>${pub}</published_messages>`,
      `  <stored_messages>${stored}</stored_messages>`, `  <subscribers>${subs}</subscribers>`, "</channel>", ""),
};

type Row = [string, number, number, number];
const CH1: Row = ["ch1", 2, 2, 0];
const CH2: Row = ["ch2", 1, 1, 1];
const OTHER: Row = ["other", 1, 1, 0];
const BC_W: Row = ["bc_w", 1, 1, 0];

/** A group answer in each format: push-stream's head, items and tail. */
function group(format: "json" | "plain" | "yaml" | "xml", rows: Row[]): string {
  switch (format) {
    case "json":
      return `{"hostname": "${HOST}", "time": "${TIME}", "channels": 3, "wildcard_channels": 1, "uptime": 5, "infos": [\r\n`
        + rows.map((r) => single.json(...r) + (r === rows[rows.length - 1] ? "\r\n" : ",\r\n")).join("") + "]}\r\n";
    case "plain":
      return `hostname: ${HOST}, time: ${TIME}, channels: 3, wildcard_channels: 1, uptime: 5, infos: \r\n`
        + rows.map((r) => single.plain(...r)).join(",\r\n") + "\r\n";
    case "yaml":
      return lines(`hostname: ${HOST}`, `time: ${TIME}`, "channels: 3", "wildcard_channels: 1", "uptime: 5", "infos: ", "")
        + rows.map((r) => ` -\r\n${single.yaml(...r)}`).join("\r\n") + "\r\n";
    case "xml":
      return lines('<?xml version="1.0" encoding="UTF-8" ?>', "<root>", `  <hostname>${HOST}</hostname>`, `  <time>${TIME}</time>`,
        "  <channels>3</channels>", "  <wildcard_channels>1</wildcard_channels>", "  <uptime>5</uptime>", "  <infos>", "")
        + rows.map((r) => single.xml(...r)).join("") + lines("  </infos>", "</root>", "");
  }
}

const FORMATS = [
  ["json", ACCEPT.json, "application/json"],
  ["plain", ACCEPT.plain, "text/plain"],
  ["yaml", ACCEPT.yaml, "application/yaml"],
  ["xml", ACCEPT.xml, "application/xml"],
] as const;

describe("statistics: one channel", () => {
  for (const [format, accept, type] of FORMATS) {
    test(`${format}`, async () => {
      await withState(async (app) => {
        const tail = format === "xml" ? "\r\n" : "\r\n";
        const body = format === "xml" ? '<?xml version="1.0" encoding="UTF-8" ?>\r\n' + single.xml(...CH2) + tail : single[format](...CH2) + tail;
        assertStats(await get(app, "?id=ch2", accept), type, body);
        // A missing id next to an existing one still answers the single form.
        assertStats(await get(app, "?id=nope/ch2", accept), type, body);
      });
    });
  }

  test("HTML (pushwire), ids escaped", async () => {
    await withState(async (app) => {
      const reply = await request(app.port(), "/pub?id=%3Cb%3E", { method: "POST", body: "x" });
      assert.equal(reply.status, 200);
      const body = lines("<!DOCTYPE html>", '<html><head><meta charset="utf-8"><title>channel &lt;b&gt;</title></head><body>',
        "<h1>channel &lt;b&gt;</h1>", "<table>", "<tr><th>channel</th><th>published_messages</th><th>stored_messages</th><th>subscribers</th></tr>",
        "<tr><td>&lt;b&gt;</td><td>1</td><td>1</td><td>0</td></tr>", "</table>", "</body></html>", "");
      assertStats(await get(app, "?id=%3Cb%3E", ACCEPT.html), "text/html; charset=utf-8", body);
    });
  });
});

describe("statistics: groups", () => {
  for (const [format, accept, type] of FORMATS) {
    test(`${format}: several ids in request order, missing ones left out`, async () => {
      await withState(async (app) => {
        assertStats(await get(app, "?id=ch2/missing/ch1", accept), type, group(format, [CH2, CH1]));
      });
    });

    test(`${format}: ALL lists every channel in creation order`, async () => {
      await withState(async (app) => {
        assertStats(await get(app, "?id=ALL", accept), type, group(format, [CH1, CH2, OTHER, BC_W]));
        // The first ALL or * decides, whatever follows.
        assertStats(await get(app, "?id=ch1/ALL", accept), type, group(format, [CH1, CH2, OTHER, BC_W]));
      });
    });

    test(`${format}: prefix* lists the channels starting with prefix; * alone lists all`, async () => {
      await withState(async (app) => {
        assertStats(await get(app, "?id=ch*", accept), type, group(format, [CH1, CH2]));
        assertStats(await get(app, "?id=ch*ignored", accept), type, group(format, [CH1, CH2]));
        assertStats(await get(app, "?id=*", accept), type, group(format, [CH1, CH2, OTHER, BC_W]));
        assertStats(await get(app, "?id=zz*", accept), type, group(format, []));
      });
    });
  }

  test("HTML (pushwire) group", async () => {
    await withState(async (app) => {
      const channelRow = (r: Row): string => `<tr>${r.map((c) => `<td>${c}</td>`).join("")}</tr>`;
      const body = lines("<!DOCTYPE html>", `<html><head><meta charset="utf-8"><title>channels on ${HOST}</title></head><body>`,
        `<h1>channels on ${HOST}</h1>`, "<table>", "<tr><th>hostname</th><th>time</th><th>channels</th><th>wildcard_channels</th><th>uptime</th></tr>",
        `<tr><td>${HOST}</td><td>${TIME}</td><td>3</td><td>1</td><td>5</td></tr>`, "</table>", "<table>",
        "<tr><th>channel</th><th>published_messages</th><th>stored_messages</th><th>subscribers</th></tr>",
        channelRow(CH1), channelRow(CH2), "</table>", "</body></html>", "");
      assertStats(await get(app, "?id=ch*", ACCEPT.html), "text/html; charset=utf-8", body);
    });
  });
});

describe("statistics: Accept negotiation (PROTOCOL.md §11.2)", () => {
  const cases: Array<[string, string]> = [
    ["text/plain; q=0.1, application/json", "text/plain"],
    ["application/json, text/plain", "application/json"],
    ["application/xhtml+xml, application/xml;q=0.9", "application/xml"],
    ["text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "text/html; charset=utf-8"],
    ["image/png", "application/json"],
    ["nothing", "application/json"],
    ["text/x-yaml", "text/x-yaml"],
    ["application/x-json", "text/x-json"],
  ];
  for (const [accept, type] of cases) {
    test(`${accept} → ${type}`, async () => {
      await withState(async (app) => {
        const reply = await get(app, "?id=ch1", accept);
        assert.equal(reply.status, 200);
        assert.equal(reply.headers["content-type"], type);
      });
    });
  }
});

describe("statistics: refusals", () => {
  test("no existing channel → 404, empty, no-cache", async () => {
    await withState(async (app) => {
      const reply = await get(app, "?id=nope/none");
      assertRefusal(reply, 404, undefined);
      assertNoCache(reply);
    });
  });

  test("an id longer than maxChannelIdLength → 400, even before ALL", async () => {
    await withState(async (app) => {
      assertRefusal(await get(app, "?id=abcdefghijk"), 400, "Channel id is too large.");
      assertRefusal(await get(app, "?id=abcdefghijk/ALL"), 400, "Channel id is too large.");
    });
  });

  for (const method of ["POST", "PUT", "DELETE", "HEAD", "OPTIONS"]) {
    test(`${method} → 405 Allow: GET with the no-cache headers`, async () => {
      await withState(async (app) => {
        const reply = await request(app.port(), "/stats?id=ch1", { method, body: method === "POST" || method === "PUT" ? "x" : undefined });
        assertRefusal(reply, 405, "Method not allowed.");
        assert.equal(reply.headers["allow"], "GET");
        assertNoCache(reply);
        assert.equal(app.push.ctx.store.find("ch1")?.lastMessageId, 2, "nothing published");
      });
    });
  }
});

describe("statistics: configuration", () => {
  const location = (extra: RawConfig): RawConfig => ({ servers: [{ listen: "8893", locations: [{ path: "/s", ...extra }] }] });

  test("channelsStatistics needs channelsPath", () => {
    const errors = normalizeConfig(location({ channelsStatistics: true })).errors ?? [];
    assert.deepEqual(errors, ['servers[0].locations[0].channelsPath: must be set on a channelsStatistics location (e.g. "$arg_id")']);
  });

  test("a location has one role", () => {
    const errors = normalizeConfig(location({ channelsStatistics: true, channelsPath: "$arg_id", publisher: "admin" })).errors ?? [];
    assert.deepEqual(errors, ["servers[0].locations[0]: a location has one role, not publisher and channelsStatistics"]);
    const two = normalizeConfig(location({ metrics: true, health: true })).errors ?? [];
    assert.deepEqual(two, ["servers[0].locations[0]: a location has one role, not metrics and health"]);
  });

  test("the role flags are booleans, and absent from the effective configuration unless set", () => {
    const errors = normalizeConfig(location({ metrics: "yes" })).errors ?? [];
    assert.deepEqual(errors, ['servers[0].locations[0].metrics: must be true or false, got "yes"']);
    const ok = normalizeConfig(location({ health: true }));
    assert.equal(ok.config?.servers[0]!.locations[0]!.health, true);
    assert.equal(ok.config?.servers[0]!.locations[0]!.metrics, false);
  });
});
