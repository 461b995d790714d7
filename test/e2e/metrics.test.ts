import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  assertRefusal, openRequest, rawExchange, request, sleep, waitFor, withServer, type RawConfig, type Running,
} from "../support/helpers.js";

/**
 * GET /metrics: the Prometheus text exposition format 0.0.4, checked by a strict parser of that
 * format's rules written here, and counters that move with real traffic over real sockets.
 */

// ---- A strict parser of the text exposition format 0.0.4 ----

interface Sample {
  name: string;
  labels: Map<string, string>;
  value: number;
}

interface Family {
  name: string;
  type: string;
  help: string | undefined;
  samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);
const FLOAT = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

function parseValue(text: string, where: string): number {
  if (text === "NaN") return NaN;
  if (text === "+Inf" || text === "Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  if (!FLOAT.test(text)) throw new Error(`${where}: bad value ${JSON.stringify(text)}`);
  return Number(text);
}

/** The family a sample name belongs to: histograms own name_bucket, name_sum and name_count. */
function familyOf(name: string, types: Map<string, string>): string {
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    if (name.endsWith(suffix)) {
      const base = name.slice(0, -suffix.length);
      const type = types.get(base);
      if (type === "histogram" || (type === "summary" && suffix !== "_bucket")) return base;
    }
  }
  return name;
}

/** Parses one sample line: name, optional {labels}, value, optional timestamp. */
function parseSample(line: string, where: string): Sample {
  const nameEnd = line.search(/[{ \t]/);
  if (nameEnd <= 0) throw new Error(`${where}: no metric name or value`);
  const name = line.slice(0, nameEnd);
  if (!METRIC_NAME.test(name)) throw new Error(`${where}: bad metric name ${name}`);
  const labels = new Map<string, string>();
  let at = nameEnd;
  if (line[at] === "{") {
    at++;
    while (line[at] !== "}") {
      const eq = line.indexOf("=", at);
      if (eq < 0) throw new Error(`${where}: label without =`);
      const labelName = line.slice(at, eq);
      if (!LABEL_NAME.test(labelName) || labelName.startsWith("__")) throw new Error(`${where}: bad label name ${labelName}`);
      if (line[eq + 1] !== '"') throw new Error(`${where}: label value not quoted`);
      let value = "";
      let i = eq + 2;
      for (;; i++) {
        const c = line[i];
        if (c === undefined) throw new Error(`${where}: unterminated label value`);
        if (c === '"') break;
        if (c === "\\") {
          const next = line[++i];
          if (next === "\\") value += "\\";
          else if (next === '"') value += '"';
          else if (next === "n") value += "\n";
          else throw new Error(`${where}: bad escape \\${next}`);
        } else value += c;
      }
      if (labels.has(labelName)) throw new Error(`${where}: label ${labelName} twice`);
      labels.set(labelName, value);
      at = i + 1;
      if (line[at] === ",") at++;
      else if (line[at] !== "}") throw new Error(`${where}: expected , or } after a label`);
    }
    at++;
  }
  const rest = line.slice(at);
  if (!/^[ \t]+/.test(rest)) throw new Error(`${where}: no blank before the value`);
  const fields = rest.trim().split(/[ \t]+/);
  if (fields.length > 2) throw new Error(`${where}: trailing text`);
  if (fields.length === 2 && !/^-?\d+$/.test(fields[1]!)) throw new Error(`${where}: bad timestamp`);
  return { name, labels, value: parseValue(fields[0]!, where) };
}

/** Parses a whole exposition, enforcing the format's rules; throws on the first violation. */
function parseExposition(text: string): Map<string, Family> {
  if (text.length > 0 && !text.endsWith("\n")) throw new Error("the last line must end with a line feed");
  const families = new Map<string, Family>();
  const types = new Map<string, string>();
  const helps = new Set<string>();
  const finished = new Set<string>();
  let current: string | undefined;
  const lines = text.split("\n");
  lines.pop();
  lines.forEach((line, index) => {
    const where = `line ${index + 1}`;
    if (line.trim() === "") return;
    const family = (name: string): Family => {
      let f = families.get(name);
      if (!f) families.set(name, (f = { name, type: "untyped", help: undefined, samples: [] }));
      return f;
    };
    if (line.startsWith("#")) {
      const m = /^#[ \t]+(HELP|TYPE)[ \t]+(\S+)(?:[ \t]+(.*))?$/.exec(line);
      if (!m) return; // an ordinary comment
      const [, keyword, name, rest] = m;
      if (!METRIC_NAME.test(name!)) throw new Error(`${where}: bad metric name ${name}`);
      if (keyword === "HELP") {
        if (helps.has(name!)) throw new Error(`${where}: second HELP for ${name}`);
        helps.add(name!);
        const help = rest ?? "";
        if (/\\(?![\\n])/.test(help)) throw new Error(`${where}: bad escape in HELP`);
        family(name!).help = help;
      } else {
        if (types.has(name!)) throw new Error(`${where}: second TYPE for ${name}`);
        if (!TYPES.has(rest ?? "")) throw new Error(`${where}: unknown type ${rest}`);
        if (families.get(name!)?.samples.length) throw new Error(`${where}: TYPE for ${name} after its samples`);
        types.set(name!, rest!);
        family(name!).type = rest!;
      }
      return;
    }
    const sample = parseSample(line, where);
    const name = familyOf(sample.name, types);
    if (name !== current) {
      if (current !== undefined) finished.add(current);
      if (finished.has(name)) throw new Error(`${where}: samples of ${name} are not in one group`);
      current = name;
    }
    const f = family(name);
    const key = `${sample.name}{${[...sample.labels].sort().map(([k, v]) => `${k}=${v}`).join(",")}}`;
    if (f.samples.some((s) => `${s.name}{${[...s.labels].sort().map(([k, v]) => `${k}=${v}`).join(",")}}` === key)) {
      throw new Error(`${where}: duplicate sample ${key}`);
    }
    if (f.type === "counter" && !(sample.value >= 0)) throw new Error(`${where}: negative counter`);
    if (f.type !== "histogram" && f.type !== "summary" && sample.name !== name) throw new Error(`${where}: ${sample.name} outside its family`);
    f.samples.push(sample);
  });
  for (const f of families.values()) if (f.type === "histogram") checkHistogram(f);
  return families;
}

function checkHistogram(f: Family): void {
  const buckets = f.samples.filter((s) => s.name === `${f.name}_bucket`);
  const count = f.samples.find((s) => s.name === `${f.name}_count`);
  if (!count || !f.samples.some((s) => s.name === `${f.name}_sum`)) throw new Error(`${f.name}: _sum and _count required`);
  let previousBound = -Infinity;
  let previous = 0;
  for (const b of buckets) {
    const le = b.labels.get("le");
    if (le === undefined) throw new Error(`${f.name}: bucket without le`);
    const bound = parseValue(le, f.name);
    if (!(bound > previousBound)) throw new Error(`${f.name}: buckets not in increasing le`);
    if (b.value < previous) throw new Error(`${f.name}: buckets not cumulative`);
    previousBound = bound;
    previous = b.value;
  }
  if (previousBound !== Infinity) throw new Error(`${f.name}: no le="+Inf" bucket`);
  if (previous !== count.value) throw new Error(`${f.name}: +Inf bucket differs from _count`);
}

// ---- Helpers ----

function config(http: RawConfig = {}): RawConfig {
  return {
    maxMessagesStoredPerChannel: 2,
    ...http,
    servers: [{
      listen: "127.0.0.1:0",
      locations: [
        { path: "/pub", publisher: "admin", channelsPath: "$arg_id", storeMessages: true },
        { path: "/sub", subscriber: "long-polling", channelsPath: "$arg_id", longpollingConnectionTtl: "300ms" },
        { path: "/metrics", metrics: true },
      ],
    }],
  };
}

async function scrape(app: Running): Promise<Map<string, Family>> {
  const reply = await request(app.port(), "/metrics");
  assert.equal(reply.status, 200);
  assert.equal(reply.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
  return parseExposition(reply.text);
}

/** The value of one sample; fails when it is missing. */
function value(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  for (const f of families.values()) {
    for (const s of f.samples) {
      if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels.get(k) === v) && s.labels.size >= Object.keys(labels).length) {
        return s.value;
      }
    }
  }
  assert.fail(`no sample ${name} ${JSON.stringify(labels)}`);
}

const FUTURE = (): string => new Date(Date.now() + 3_600_000).toUTCString();

// ---- Tests ----

describe("the strict exposition parser", () => {
  test("accepts a well-formed exposition", () => {
    const families = parseExposition('# HELP a_total A.\n# TYPE a_total counter\na_total{x="q\\"\\\\\\n"} 1\n# TYPE h histogram\n'
      + 'h_bucket{le="0.1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 0.3\nh_count 2\n');
    assert.equal(families.get("a_total")!.samples[0]!.labels.get("x"), 'q"\\\n');
  });

  const bad: Array<[string, string]> = [
    ["no final line feed", "a 1"],
    ["TYPE after a sample", "a 1\n# TYPE a gauge\n"],
    ["two TYPE lines", "# TYPE a gauge\n# TYPE a gauge\na 1\n"],
    ["a bad escape", 'a{x="\\t"} 1\n'],
    ["an unquoted label", "a{x=1} 1\n"],
    ["a bad metric name", "1a 1\n"],
    ["a bad value", "a one\n"],
    ["a split family", "a 1\nb 1\na{x=\"1\"} 2\n"],
    ["a duplicate sample", "a 1\na 2\n"],
    ["a negative counter", "# TYPE a counter\na -1\n"],
    ["a histogram without +Inf", '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n'],
    ["a histogram not cumulative", '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n'],
    ["an unknown type", "# TYPE a thing\na 1\n"],
  ];
  for (const [what, text] of bad) {
    test(`rejects ${what}`, () => {
      assert.throws(() => parseExposition(text));
    });
  }
});

describe("GET /metrics", () => {
  test("parses strictly, names pushwire_* with units, and carries every family the issue lists", async () => {
    await withServer(config(), async (app) => {
      const families = await scrape(app);
      for (const name of families.keys()) assert.match(name, /^pushwire_[a-z_]+$/);
      for (const [name, f] of families) {
        assert.ok(f.help, `${name} has HELP`);
        if (f.type === "counter") assert.match(name, /_total$/, `${name}: counters end in _total`);
      }
      const expected: Record<string, string> = {
        pushwire_held_connections: "gauge", pushwire_subscribers: "gauge", pushwire_subscriptions: "gauge", pushwire_channels: "gauge",
        pushwire_stored_messages: "gauge", pushwire_stored_message_bytes: "gauge", pushwire_memory_used_bytes: "gauge",
        pushwire_memory_budget_bytes: "gauge", pushwire_published_messages_total: "counter", pushwire_delivered_messages_total: "counter",
        pushwire_dropped_messages_total: "counter", pushwire_evicted_messages_total: "counter", pushwire_publish_duration_seconds: "histogram",
        pushwire_long_poll_timeouts_total: "counter", pushwire_rejected_requests_total: "counter",
        pushwire_process_resident_memory_bytes: "gauge", pushwire_process_heap_used_bytes: "gauge", pushwire_event_loop_lag_seconds: "gauge",
      };
      for (const [name, type] of Object.entries(expected)) assert.equal(families.get(name)?.type, type, name);
      assert.ok(value(families, "pushwire_process_resident_memory_bytes") > 0);
      assert.ok(value(families, "pushwire_process_heap_used_bytes") > 0);
      assert.ok(value(families, "pushwire_event_loop_lag_seconds") >= 0);
    });
  });

  test("counters move with real traffic", async () => {
    await withServer(config(), async (app) => {
      const port = app.port();
      const before = await scrape(app);
      assert.equal(value(before, "pushwire_published_messages_total"), 0);
      assert.equal(value(before, "pushwire_held_connections", { mode: "long-polling" }), 0);

      // A held long-poll, seen by mode, then answered by a publish.
      const held = openRequest(port, "/sub?id=a", { headers: { "If-Modified-Since": FUTURE() } });
      await waitFor(() => app.push.ctx.held.size === 1, 2000, "long-poll held");
      const holding = await scrape(app);
      assert.equal(value(holding, "pushwire_held_connections", { mode: "long-polling" }), 1);
      assert.equal(value(holding, "pushwire_subscribers"), 1);
      assert.equal(value(holding, "pushwire_subscriptions"), 1);
      for (const body of ["one", "two", "three"]) {
        assert.equal((await request(port, "/pub?id=a", { method: "POST", body })).status, 200);
      }
      assert.equal((await held.reply).status, 200);
      // A catch-up of the two stored messages (the ring holds 2: one was dropped).
      const catchUp = await request(port, "/sub?id=a", { headers: { "If-Modified-Since": "Thu, 01 Jan 1970 00:00:00 GMT" } });
      assert.equal(catchUp.status, 200);
      // A long-poll that times out (304), and two refusals.
      assert.equal((await request(port, "/sub?id=b", { headers: { "If-Modified-Since": FUTURE() } })).status, 304);
      assertRefusal(await request(port, "/nowhere"), 404, "No location matches this path.");
      assertRefusal(await request(port, "/pub?id=ALL", { method: "POST", body: "x" }), 403, "Channel id not authorized for this method.");
      assert.match((await rawExchange(port, "\x01\x02 garbage\r\n\r\n")).text, /^HTTP\/1\.1 400 /, "the parser's own refusal");

      const after = await scrape(app);
      assert.equal(value(after, "pushwire_published_messages_total"), 3);
      assert.equal(value(after, "pushwire_delivered_messages_total"), 1 + 2);
      assert.equal(value(after, "pushwire_stored_messages"), 2);
      assert.equal(value(after, "pushwire_stored_message_bytes"), "two".length + "three".length);
      assert.equal(value(after, "pushwire_dropped_messages_total", { reason: "ring_overflow" }), 1);
      assert.equal(value(after, "pushwire_long_poll_timeouts_total"), 1);
      assert.equal(value(after, "pushwire_rejected_requests_total", { status: "404" }), 1);
      assert.equal(value(after, "pushwire_rejected_requests_total", { status: "403" }), 1);
      assert.equal(value(after, "pushwire_rejected_requests_total", { status: "400" }), 1);
      assert.equal(value(after, "pushwire_publish_duration_seconds_count"), 3);
      assert.ok(value(after, "pushwire_publish_duration_seconds_sum") > 0);
      assert.equal(value(after, "pushwire_held_connections", { mode: "long-polling" }), 0);
      assert.equal(value(after, "pushwire_channels"), 2);
    });
  });

  test("expired messages are counted as dropped by ttl", async () => {
    await withServer(config(), async (app) => {
      const reply = await request(app.port(), "/pub?id=e", { method: "POST", body: "soon gone", headers: { "Message-Expiry": "1" } });
      assert.equal(reply.status, 200);
      await sleep(1100);
      await waitFor(() => app.push.ctx.history.storedMessages === 0, 2000, "expiry swept");
      const families = await scrape(app);
      assert.equal(value(families, "pushwire_dropped_messages_total", { reason: "ttl" }), 1);
      assert.equal(value(families, "pushwire_stored_messages"), 0);
      assert.equal(value(families, "pushwire_stored_message_bytes"), 0);
    }, { sweepMs: 50 });
  });

  test("POST → 405 Allow: GET, HEAD; HEAD → headers only", async () => {
    await withServer(config(), async (app) => {
      const post = await request(app.port(), "/metrics", { method: "POST", body: "x" });
      assertRefusal(post, 405, "Method not allowed.");
      assert.equal(post.headers["allow"], "GET, HEAD");
      const head = await request(app.port(), "/metrics", { method: "HEAD" });
      assert.equal(head.status, 200);
      assert.equal(head.body.length, 0);
      assert.ok(Number(head.headers["content-length"]) > 0);
    });
  });

  test("with a message log: its size, segments, fsyncs and replay time; none of them without", async () => {
    await withServer(config(), async (app) => {
      const families = await scrape(app);
      assert.equal(families.has("pushwire_message_log_bytes"), false, "no log, no log metrics");
    });
    const dir = mkdtempSync(join(tmpdir(), "pushwire-metrics-log-"));
    try {
      await withServer(config({ messageLog: { path: dir, fsync: "batch" } }), async (app) => {
        const before = await scrape(app);
        const empty = value(before, "pushwire_message_log_bytes");
        for (let i = 0; i < 5; i++) assert.equal((await request(app.port(), "/pub?id=m", { method: "POST", body: `message ${i}` })).status, 200);
        const after = await scrape(app);
        assert.ok(value(after, "pushwire_message_log_bytes") > empty + 5 * "message 0".length, "the log grew by at least the bodies");
        assert.equal(value(after, "pushwire_message_log_segments"), 1);
        assert.equal(value(after, "pushwire_message_log_failed"), 0);
        assert.ok(value(after, "pushwire_message_log_fsync_seconds_count") >= 1, "each answered publish waited for an fsync");
        assert.ok(value(after, "pushwire_message_log_replay_seconds") >= 0);
        assert.equal(value(after, "pushwire_message_log_compactions_total"), 0);
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
