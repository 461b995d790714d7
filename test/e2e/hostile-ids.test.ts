import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ManualClock } from "../../src/core/clock.js";
import {
  assertRefusal, envelopes, request, withServer, BITRIX_MESSAGE_TEMPLATE, DEFAULT_TYPE, EPOCH, type RawConfig, type Reply, type Running,
} from "../support/helpers.js";

/**
 * Channel ids a client chooses are data, never markup (issue 17 items 6, 7, 15; issue 18 items 6, 7),
 * over real sockets: ids with quotes, backslashes, `<`, `&` and the like come back unchanged from every
 * statistics format, the publisher's channel info in every `Accept` format, the events channel and
 * Bitrix's envelope; ids that are not UTF-8, carry control characters or go on after a `?` get 400
 * with a reason on every role, and create nothing.
 */

const CONFIG: RawConfig = {
  eventsChannelId: "events",
  servers: [{
    listen: "127.0.0.1:0",
    locations: [
      { path: "/pub", publisher: "admin", channelsPath: "$arg_id", storeMessages: true },
      { path: "/sub", subscriber: "polling", channelsPath: "$arg_id", messageTemplate: BITRIX_MESSAGE_TEMPLATE },
      { path: "/ev", subscriber: "polling", channelsPath: "$arg_id", allowConnectionsToEventsChannel: true, messageTemplate: "~text~\n" },
      { path: "/stats", channelsStatistics: true, channelsPath: "$arg_id" },
    ],
  }],
};

/** A hostile id that is accepted, and how XML/HTML (`markup`) and YAML (`yaml`) must write it; written out by hand. */
interface Hostile {
  id: string;
  markup: string;
  yaml: string;
}

const HOSTILE: readonly Hostile[] = [
  { id: 'q"uote', markup: "q&quot;uote", yaml: '"q\\"uote"' },
  { id: "back\\slash", markup: "back\\slash", yaml: '"back\\\\slash"' },
  { id: "<img src=x>", markup: "&lt;img src=x&gt;", yaml: '"<img src=x>"' },
  { id: "a&amp;b", markup: "a&amp;amp;b", yaml: '"a&amp;b"' },
  { id: "it's", markup: "it's", yaml: "\"it's\"" },
  { id: "канал", markup: "канал", yaml: '"канал"' },
  { id: "123", markup: "123", yaml: '"123"' },
  { id: "x: y #c", markup: "x: y #c", yaml: '"x: y #c"' },
  // An ordinary id keeps push-stream's bytes: a plain YAML scalar.
  { id: "room-1.b_x", markup: "room-1.b_x", yaml: "room-1.b_x" },
  // Last: nothing may follow a `?` in a channels path.
  { id: "a?", markup: "a?", yaml: '"a?"' },
];

/** `?id=ALL` lists the events channel first. */
const EVENTS: Hostile = { id: "events", markup: "events", yaml: "events" };

const ID = (h: Hostile): string => h.id;
const enc = encodeURIComponent;
/** Every hostile id as one channels path, in order. */
const ALL_PATH = HOSTILE.map((h) => enc(h.id)).join("/");

/** Accept values → the Content-Type both the statistics and the publisher's channel info answer with. */
const ACCEPTS: ReadonlyArray<[string | undefined, string]> = [
  [undefined, "application/json"],
  ["application/json", "application/json"],
  ["text/plain", "text/plain"],
  ["application/yaml", "application/yaml"],
  ["application/xml", "application/xml"],
  ["text/x-json", "text/x-json"],
  ["text/x-yaml", "text/x-yaml"],
  ["text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "text/html; charset=utf-8"],
];

/** A server with every hostile id published once (clock fixed, so group answers compare byte for byte). */
async function withHostileChannels(run: (app: Running) => Promise<void>): Promise<void> {
  await withServer(CONFIG, async (app) => {
    for (const h of HOSTILE) {
      const reply = await request(app.port(), `/pub?id=${enc(h.id)}`, { method: "POST", body: "1" });
      assert.equal(reply.status, 200, `publish to ${h.id}: ${String(reply.headers["x-nginx-pushstream-explain"])}`);
      assert.equal((JSON.parse(reply.text) as { channel: string }).channel, h.id, "the publish answer's JSON");
    }
    await run(app);
  }, { clock: new ManualClock() });
}

function get(app: Running, path: string, accept?: string): Promise<Reply> {
  return request(app.port(), path, { headers: accept === undefined ? {} : { Accept: accept } });
}

function ok(reply: Reply, contentType: string): string {
  assert.equal(reply.status, 200, `status (explain ${String(reply.headers["x-nginx-pushstream-explain"])})`);
  assert.equal(reply.headers["content-type"], contentType);
  return reply.text;
}

/** Every tag of a statistics XML answer: any other `<` came from an id. */
const XML_TAG = /<(?!\?xml |\/?(?:root|hostname|time|channels|wildcard_channels|uptime|infos|channel|name|published_messages|stored_messages|subscribers)>)/;

/** A group answer in the format of `contentType` lists exactly `expected`, each id written as that format must. */
function assertGroupCarriesIds(contentType: string, text: string, expected: readonly Hostile[] = HOSTILE): void {
  const all = (pattern: RegExp): string[] => [...text.matchAll(pattern)].map((m) => m[1]!);
  switch (contentType) {
    case "application/json":
    case "text/x-json":
      assert.deepEqual((JSON.parse(text) as { infos: Array<{ channel: string }> }).infos.map((i) => i.channel), expected.map(ID));
      break;
    case "application/xml":
      assert.deepEqual(all(/<name>([^<]*)<\/name>/g), expected.map((h) => h.markup));
      assert.doesNotMatch(text, XML_TAG, "every < opens one of the statistics' tags");
      assert.doesNotMatch(text, /&(?!(?:amp|lt|gt|quot);)/, "every & starts an entity");
      break;
    case "application/yaml":
    case "text/x-yaml":
      assert.deepEqual(all(/^ {2}channel: (.*)\r$/gm), expected.map((h) => h.yaml));
      // A double-quoted YAML scalar written with JSON's escapes reads back as the id.
      assert.deepEqual(all(/^ {2}channel: (".*")\r$/gm).map((s) => JSON.parse(s) as string), expected.filter((h) => h.yaml.startsWith('"')).map(ID));
      break;
    case "text/plain":
      assert.deepEqual(all(/^channel: (.*)\r$/gm), expected.map(ID));
      break;
    default:
      assert.deepEqual(all(/<tr><td>([^<]*)<\/td><td>\d+<\/td><td>\d+<\/td><td>\d+<\/td><\/tr>/g), expected.map((h) => h.markup));
  }
}

describe("hostile channel ids: statistics", () => {
  test("?id=ALL in every format carries every id, escaped for the format", async () => {
    await withHostileChannels(async (app) => {
      for (const [accept, type] of ACCEPTS) {
        assertGroupCarriesIds(type, ok(await get(app, "/stats?id=ALL", accept), type), [EVENTS, ...HOSTILE]);
      }
    });
  });

  test("?id=<one id> in JSON parses and names that id; XML and YAML write it escaped", async () => {
    await withHostileChannels(async (app) => {
      for (const h of HOSTILE) {
        const json = JSON.parse(ok(await get(app, `/stats?id=${enc(h.id)}`), "application/json")) as { channel: string };
        assert.equal(json.channel, h.id);
        assert.ok(ok(await get(app, `/stats?id=${enc(h.id)}`, "application/xml"), "application/xml").includes(`<name>${h.markup}</name>\r\n`), h.id);
        assert.ok(ok(await get(app, `/stats?id=${enc(h.id)}`, "text/x-yaml"), "text/x-yaml").startsWith(`  channel: ${h.yaml}\r\n`), h.id);
      }
    });
  });

  test("the events channel's JSON events parse and name each id unchanged", async () => {
    await withHostileChannels(async (app) => {
      const reply = await request(app.port(), "/ev?id=events", { headers: { "If-Modified-Since": EPOCH } });
      const events = ok(reply, DEFAULT_TYPE).split("\n").filter((line) => line !== "").map((line) => JSON.parse(line) as { type: string; channel: string });
      assert.deepEqual(events.filter((e) => e.type === "channel_created").map((e) => e.channel), HOSTILE.map(ID));
    });
  });

  test("Bitrix's envelope carries each id as a JSON string that parses back to it", async () => {
    await withHostileChannels(async (app) => {
      for (const h of HOSTILE) {
        const reply = await request(app.port(), `/sub?id=${enc(h.id)}`, { headers: { "If-Modified-Since": EPOCH } });
        assert.equal(reply.status, 200, h.id);
        assert.deepEqual(envelopes(reply.text).map((e) => e.channel), [h.id]);
      }
    });
  });
});

describe("the publisher's channel info follows Accept, as statistics do", () => {
  test("GET, one channel and several: the statistics' bytes and Content-Type for every Accept", async () => {
    await withHostileChannels(async (app) => {
      for (const [accept, type] of ACCEPTS) {
        for (const path of [enc(HOSTILE[0]!.id), ALL_PATH]) {
          const info = ok(await get(app, `/pub?id=${path}`, accept), type);
          assert.equal(info, ok(await get(app, `/stats?id=${path}`, accept), type), `${accept} ${path}`);
        }
        assertGroupCarriesIds(type, ok(await get(app, `/pub?id=${ALL_PATH}`, accept), type));
      }
    });
  });

  test("the answer to a publish, one channel and several, in the Accept's format", async () => {
    await withHostileChannels(async (app) => {
      for (const [accept, type] of ACCEPTS) {
        for (const path of [enc(HOSTILE[1]!.id), ALL_PATH]) {
          const headers: Record<string, string> = accept === undefined ? {} : { Accept: accept };
          const published = ok(await request(app.port(), `/pub?id=${path}`, { method: "POST", body: "2", headers }), type);
          assert.equal(published, ok(await get(app, `/stats?id=${path}`, accept), type), `${accept} ${path}`);
        }
      }
    });
  });
});

/** Ids refused on every role: the raw query value and the reason. */
const REFUSED: ReadonlyArray<[string, string]> = [
  ["q%00x", "Channel id contains a control character."],
  ["a%0d%0aX", "Channel id contains a control character."],
  ["tab%09", "Channel id contains a control character."],
  ["del%7F", "Channel id contains a control character."],
  ["u%FFx", "Channel id is not valid UTF-8."],
  ["u%FEx", "Channel id is not valid UTF-8."],
  ["over%C0%AFlong", "Channel id is not valid UTF-8."],
  ["a?b", "Channel id has text after a '?' (push-stream would drop it)."],
  ["a?bc", "Channel id has text after a '?' (push-stream would drop it)."],
  ["a?xyz", "Channel id has text after a '?' (push-stream would drop it)."],
  ["a%3Fb", "Channel id has text after a '?' (push-stream would drop it)."],
  ["a?/other", "Channel id has text after a '?' (push-stream would drop it)."],
  // One bad id refuses the whole list; the good one before it is not created either.
  ["good/u%FFx", "Channel id is not valid UTF-8."],
];

describe("refused channel ids", () => {
  test("400 with the reason on publish, channel info, subscribe and statistics; nothing is created", async () => {
    await withServer(CONFIG, async (app) => {
      const port = app.port();
      const channelsBefore = app.push.ctx.store.channelCount;
      for (const [raw, explain] of REFUSED) {
        assertRefusal(await request(port, `/pub?id=${raw}`, { method: "POST", body: "x" }), 400, explain);
        assertRefusal(await request(port, `/pub?id=${raw}`), 400, explain);
        assertRefusal(await request(port, `/sub?id=${raw}`), 400, explain);
        assertRefusal(await request(port, `/stats?id=${raw}`), 400, explain);
      }
      assert.equal(app.push.ctx.store.channelCount, channelsBefore);
      assert.deepEqual([...app.push.ctx.store.all()].map((c) => c.id), ["events"]);
    });
  });
});
