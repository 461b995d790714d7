import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  HTTP_KEYS,
  LOCATION_KEYS,
  effectiveConfig,
  loadConfigFile,
  normalizeConfig,
  type LocationConfig,
  type PushwireConfig,
} from "../../src/config/schema.js";
import { BITRIX_MESSAGE_TEMPLATE, bitrixVmConfig } from "../../src/config/layouts/bitrixvm.js";
import { ComplexValue } from "../../src/config/complex-value.js";

type Raw = Record<string, unknown>;

const DURATION_HINT = '(use seconds or an nginx time such as "40s", "30m", "24h")';

function ok(input: unknown, baseDir?: string): PushwireConfig {
  const result = normalizeConfig(input, baseDir);
  if (result.errors) assert.fail(`unexpected errors: ${result.errors.join("; ")}`);
  return result.config;
}

function errors(input: unknown, baseDir?: string): string[] {
  const result = normalizeConfig(input, baseDir);
  assert.ok(result.errors, "expected the configuration to be rejected");
  assert.equal(result.config, undefined);
  return result.errors;
}

function sub(extra: Raw = {}): Raw {
  return { path: "/sub", subscriber: "long-polling", channelsPath: "$arg_id", ...extra };
}

function pub(extra: Raw = {}): Raw {
  return { path: "/pub", publisher: "normal", channelsPath: "$arg_id", ...extra };
}

/** One server on 8893 with these locations, plus top-level keys. */
function one(locations: unknown[], top: Raw = {}, server: Raw = {}): Raw {
  return { ...top, servers: [{ listen: "8893", ...server, locations }] };
}

function location(config: PushwireConfig, server: number, index: number): LocationConfig {
  const l = config.servers[server]?.locations[index];
  assert.ok(l, `no location servers[${server}].locations[${index}]`);
  return l;
}

describe("normalizeConfig: the built-in BitrixVM configuration", () => {
  test("validates", () => {
    ok(bitrixVmConfig());
  });

  test("has the BitrixVM http settings, converted to numbers", () => {
    const { http } = ok(bitrixVmConfig());
    assert.deepEqual(http, {
      maxMessagesStoredPerChannel: 1000,
      messageTtl: 86400,
      maxChannelIdLength: 32,
      maxNumberOfChannels: 100000,
      maxNumberOfWildcardChannels: 0,
      wildcardChannelPrefix: "",
      channelInactivityTime: 30,
      maxSubscribersPerChannel: 0,
      channelDeletedMessageText: "Channel deleted",
      sharedMemorySize: 0,
      eventsChannelId: "",
      pingMessageText: " ",
      timeoutWithBody: false,
      clientMaxHeaderSize: 16384,
      clientHeaderTimeout: 30,
      logStatsInterval: 60,
      accessLog: false,
      securityKey: "",
      securityAlgo: "sha1",
      onlineTtl: 120,
      maxConnPerChannel: 100,
      // pushwire's own; PUSHWIRE_SUBSCRIBER_PARSER picks the default so the suite runs with either parser.
      subscriberParser: process.env.PUSHWIRE_SUBSCRIBER_PARSER === "node" ? "node" : "lean",
      workerShutdownTimeout: 5,
    });
  });

  test("has a long-polling and a WebSocket subscriber on 8893 and an admin publisher on 127.0.0.1:8895", () => {
    const config = ok(bitrixVmConfig());
    assert.deepEqual(config.servers.map((s) => s.listen), [
      { host: undefined, port: 8893 },
      { host: "127.0.0.1", port: 8895 },
    ]);
    const subscriber = location(config, 0, 0);
    assert.equal(subscriber.path, "/bitrix/sub");
    assert.equal(subscriber.subscriber, "long-polling");
    assert.equal(subscriber.longpollingConnectionTtl, 40);
    assert.equal(subscriber.authorizedChannelsOnly, true);
    assert.deepEqual(subscriber.rejectArgs, ["callback"]);
    assert.equal(subscriber.messageTemplate, BITRIX_MESSAGE_TEMPLATE);
    assert.equal(subscriber.channelsPath?.source, "$arg_CHANNEL_ID");
    assert.equal(subscriber.lastReceivedMessageTag?.source, "$arg_tag");
    assert.equal(subscriber.lastReceivedMessageTime?.source, "$arg_time");
    assert.equal(subscriber.allowedOrigins?.source, "*");
    const publisher = location(config, 1, 0);
    assert.equal(publisher.publisher, "admin");
    assert.equal(publisher.storeMessages, true);
    assert.equal(publisher.access?.permits("127.0.0.1"), true);
    assert.equal(publisher.access?.permits("::1"), true);
    assert.equal(publisher.access?.permits("192.0.2.1"), false);
    const websocket = location(config, 0, 1);
    assert.equal(websocket.path, "/bitrix/subws/");
    assert.equal(websocket.subscriber, "websocket");
    assert.equal(websocket.websocketAllowPublish, false);
    assert.equal(websocket.pingMessageInterval, 40);
    assert.equal(websocket.authorizedChannelsOnly, true);
    assert.equal(websocket.messageTemplate, BITRIX_MESSAGE_TEMPLATE);
    assert.equal(websocket.channelsPath?.source, "$arg_CHANNEL_ID");
    assert.equal(websocket.lastReceivedMessageTag?.source, "$arg_tag");
    assert.equal(websocket.lastReceivedMessageTime?.source, "$arg_time");
    assert.equal(websocket.allowedOrigins, undefined);
    assert.equal(location(config, 0, 2).access?.permits("127.0.0.1"), false);
  });

  test("serves the read-only dashboard on the loopback listener only", () => {
    const config = ok(bitrixVmConfig());
    const dashboards = config.servers.flatMap((server, s) => server.locations.filter((l) => l.dashboard).map((l) => ({ s, l })));
    assert.equal(dashboards.length, 1);
    const { s, l } = dashboards[0]!;
    assert.deepEqual(config.servers[s]!.listen, { host: "127.0.0.1", port: 8895 });
    assert.equal(l.path, "/dashboard/");
    assert.equal(l.dashboardPublish, false);
    assert.equal(l.access?.permits("127.0.0.1"), true);
    assert.equal(l.access?.permits("192.0.2.1"), false);
  });
});

describe("normalizeConfig: the dashboard role", () => {
  test("dashboard and dashboardPublish are booleans of a dashboard location", () => {
    const l = location(ok(one([{ path: "/dashboard/", dashboard: true, dashboardPublish: true }])), 0, 0);
    assert.equal(l.dashboard, true);
    assert.equal(l.dashboardPublish, true);
    assert.deepEqual(errors(one([{ path: "/d/", dashboard: "yes" }])), ['servers[0].locations[0].dashboard: must be true or false, got "yes"']);
    assert.deepEqual(errors(one([{ path: "/d/", dashboardPublish: true }])), ["servers[0].locations[0].dashboardPublish: only a dashboard location has a publish form"]);
    assert.deepEqual(errors(one([{ path: "/d/", dashboard: true, metrics: true }])), ["servers[0].locations[0]: a location has one role, not metrics and dashboard"]);
  });
});

describe("normalizeConfig: defaults", () => {
  test("an unset location key takes its default", () => {
    const l = location(ok(one([sub()])), 0, 0);
    assert.equal(l.messageTemplate, "~text~");
    assert.equal(l.headerTemplate, "");
    assert.equal(l.footerTemplate, "");
    assert.equal(l.authorizedChannelsOnly, false);
    assert.equal(l.storeMessages, false);
    assert.equal(l.channelInfoOnPublish, true);
    assert.equal(l.clientMaxBodySize, 1048576);
    assert.equal(l.defaultType, "text/plain; charset=utf-8");
    assert.equal(l.maxChannelsPerRequest, 1000);
    assert.deepEqual(l.rejectArgs, []);
    assert.equal(l.longpollingConnectionTtl, undefined);
    assert.equal(l.access, undefined);
    assert.equal(l.publisher, undefined);
  });

  test("http settings default to push-stream's", () => {
    const { http } = ok(one([sub()]));
    assert.equal(http.messageTtl, 1800);
    assert.equal(http.channelInactivityTime, 30);
    assert.equal(http.maxMessagesStoredPerChannel, 0);
  });

  test("longpollingConnectionTtl defaults to subscriberConnectionTtl", () => {
    const l = location(ok(one([sub({ subscriberConnectionTtl: "30s" })])), 0, 0);
    assert.equal(l.subscriberConnectionTtl, 30);
    assert.equal(l.longpollingConnectionTtl, 30);
  });

  test("an explicit longpollingConnectionTtl wins over subscriberConnectionTtl", () => {
    const l = location(ok(one([sub({ subscriberConnectionTtl: "30s", longpollingConnectionTtl: "5s" })])), 0, 0);
    assert.equal(l.longpollingConnectionTtl, 5);
  });

  test("mode words are case-insensitive", () => {
    const config = ok(one([sub({ subscriber: "Long-Polling" }), pub({ publisher: "ADMIN" })]));
    assert.equal(location(config, 0, 0).subscriber, "long-polling");
    assert.equal(location(config, 0, 1).publisher, "admin");
  });

  test("listen accepts a port number, host:port, *:port and [ipv6]:port", () => {
    const config = ok({
      servers: [
        { listen: 8893, locations: [sub()] },
        { listen: "127.0.0.1:8895", locations: [sub()] },
        { listen: "*:8000", locations: [sub()] },
        { listen: "[::1]:8001", locations: [sub()] },
      ],
    });
    assert.deepEqual(config.servers.map((s) => s.listen), [
      { host: undefined, port: 8893 },
      { host: "127.0.0.1", port: 8895 },
      { host: undefined, port: 8000 },
      { host: "::1", port: 8001 },
    ]);
  });

  test("listen ports: 0 (any free port) and 65535 accepted; 65536, negative, fractional and non-numeric refused", () => {
    for (const [listen, port] of [[0, 0], ["0", 0], [65535, 65535], ["127.0.0.1:65535", 65535], [1, 1]] as const) {
      assert.equal(ok({ servers: [{ listen, locations: [sub()] }] }).servers[0]!.listen.port, port, JSON.stringify(listen));
    }
    for (const listen of [-1, 1.5, "80a", "http", "", "127.0.0.1:", ":80", "1e3", null, true]) {
      const problems = errors({ servers: [{ listen, locations: [sub()] }] });
      assert.ok(problems.some((p) => p.startsWith("servers[0].listen: must be")), `${JSON.stringify(listen)}: ${problems.join("; ")}`);
    }
    for (const [listen, port] of [[65536, "65536"], ["65536", "65536"], ["127.0.0.1:65536", "65536"], [99999, "99999"], ["88930", "88930"], ["[::1]:1000000", "1000000"]] as const) {
      assert.deepEqual(errors({ servers: [{ listen, locations: [sub()] }] }), [`servers[0].listen: port ${port} is out of range (0-65535)`], JSON.stringify(listen));
    }
  });

  test("channelsPath and other complex values are compiled", () => {
    const l = location(ok(one([sub({ channelsPath: "$arg_a/${arg_b}" })])), 0, 0);
    assert.ok(l.channelsPath instanceof ComplexValue);
    assert.equal(l.channelsPath.evaluate({ arg: (n) => n.toUpperCase(), header: () => undefined }), "A/B");
  });
});

describe("normalizeConfig: inheritance", () => {
  test("a location inherits location keys from the top level and from its server", () => {
    const config = ok(one([sub()], { messageTemplate: "T:~text~", storeMessages: true }, { footerTemplate: "F" }));
    const l = location(config, 0, 0);
    assert.equal(l.messageTemplate, "T:~text~");
    assert.equal(l.storeMessages, true);
    assert.equal(l.footerTemplate, "F");
  });

  test("the nearer level wins: location over server over top level", () => {
    const config = ok({
      messageTemplate: "top",
      longpollingConnectionTtl: "10s",
      servers: [
        {
          listen: "8893",
          messageTemplate: "server",
          locations: [sub({ messageTemplate: "location", path: "/a" }), sub({ path: "/b" })],
        },
        { listen: "8894", locations: [sub({ longpollingConnectionTtl: 20 })] },
      ],
    });
    assert.equal(location(config, 0, 0).messageTemplate, "location");
    assert.equal(location(config, 0, 1).messageTemplate, "server");
    assert.equal(location(config, 1, 0).messageTemplate, "top");
    assert.equal(location(config, 0, 0).longpollingConnectionTtl, 10);
    assert.equal(location(config, 1, 0).longpollingConnectionTtl, 20);
  });

  test("channelsPath may be inherited from the server", () => {
    const config = ok(one([{ path: "/sub", subscriber: "polling" }], {}, { channelsPath: "$arg_c" }));
    assert.equal(location(config, 0, 0).channelsPath?.source, "$arg_c");
  });

  test("allow and deny are inherited and build access rules", () => {
    const config = ok(one([sub()], { allow: "10.0.0.0/8", deny: "all" }));
    const access = location(config, 0, 0).access;
    assert.equal(access?.permits("10.1.1.1"), true);
    assert.equal(access?.permits("11.1.1.1"), false);
  });

  test("a nearer headerTemplate overrides an inherited headerTemplateFile", () => {
    const dir = mkdtempSync(join(tmpdir(), "pushwire-schema-"));
    try {
      writeFileSync(join(dir, "header.txt"), "FROM FILE");
      const config = ok(one([sub({ headerTemplate: "NEAR" }), sub({ path: "/other" })], { headerTemplateFile: join(dir, "header.txt") }));
      assert.equal(location(config, 0, 0).headerTemplate, "NEAR");
      assert.equal(location(config, 0, 1).headerTemplate, "FROM FILE");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a nearer headerTemplateFile overrides an inherited headerTemplate", () => {
    const dir = mkdtempSync(join(tmpdir(), "pushwire-schema-"));
    try {
      writeFileSync(join(dir, "h.txt"), "FILE");
      const config = ok(one([sub({ headerTemplateFile: join(dir, "h.txt") })], { headerTemplate: "TOP" }));
      assert.equal(location(config, 0, 0).headerTemplate, "FILE");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("normalizeConfig: errors name the key path", () => {
  test("an invalid duration in a location", () => {
    const errs = errors(one([sub(), sub({ path: "/b", longpollingConnectionTtl: "forty" })]));
    assert.deepEqual(errs, [`servers[0].locations[1].longpollingConnectionTtl: invalid duration "forty" ${DURATION_HINT}`]);
  });

  test("an invalid http-level duration", () => {
    assert.deepEqual(errors(one([sub()], { channelInactivityTime: "1x" })), [
      `channelInactivityTime: invalid duration "1x" ${DURATION_HINT}`,
    ]);
  });

  test("an invalid location key written at the top level is reported once, at the top-level key", () => {
    const errs = errors(one([sub({ path: "/a" }), sub({ path: "/b" })], { longpollingConnectionTtl: "abc" }));
    assert.deepEqual(errs, [`longpollingConnectionTtl: invalid duration "abc" ${DURATION_HINT}`]);
  });

  test("an invalid size", () => {
    assert.deepEqual(errors(one([pub({ clientMaxBodySize: "1.5M" })])), [
      'servers[0].locations[0].clientMaxBodySize: invalid size "1.5M" (use bytes or "32k", "1M")',
    ]);
  });

  test("an invalid count", () => {
    assert.deepEqual(errors(one([sub()], { maxNumberOfChannels: -1 })), ["maxNumberOfChannels: must be a whole number ≥ 0, got -1"]);
    assert.deepEqual(errors(one([sub()], { maxMessagesStoredPerChannel: "1000" })), [
      'maxMessagesStoredPerChannel: must be a whole number ≥ 0, got "1000"',
    ]);
  });

  test("an invalid boolean", () => {
    assert.deepEqual(errors(one([sub({ authorizedChannelsOnly: "on" })])), [
      'servers[0].locations[0].authorizedChannelsOnly: must be true or false, got "on"',
    ]);
  });

  test("an unknown variable in a complex value", () => {
    assert.deepEqual(errors(one([sub({ channelsPath: "$remote_addr" })])), [
      "servers[0].locations[0].channelsPath: unknown variable $remote_addr (pushwire knows $arg_NAME and $http_NAME)",
    ]);
  });

  test("rejectArgs must be a list of non-empty strings", () => {
    assert.deepEqual(errors(one([sub({ rejectArgs: "callback" })])), [
      "servers[0].locations[0].rejectArgs: must be an array of non-empty strings",
    ]);
  });

  test("every problem is reported, not just the first", () => {
    const errs = errors({
      messageTtl: "x",
      servers: [{ listen: "8893", locations: [sub({ subscriber: "nope" }), pub({ publisher: "nope" })] }],
    });
    assert.deepEqual(errs, [
      `messageTtl: invalid duration "x" ${DURATION_HINT}`,
      "servers[0].locations[0].subscriber: invalid subscriber mode value: nope, accepted values (streaming, polling, long-polling, eventsource, websocket)",
      "servers[0].locations[1].publisher: invalid publisher mode value: nope, accepted values (normal, admin)",
    ]);
  });

  test("the configuration must be an object with servers", () => {
    assert.deepEqual(errors([]), ["configuration: must be a JSON object"]);
    assert.deepEqual(errors("x"), ["configuration: must be a JSON object"]);
    assert.deepEqual(errors({}), ["servers: must be a non-empty array of servers"]);
    assert.deepEqual(errors({ servers: [] }), ["servers: must be a non-empty array of servers"]);
  });

  test("servers and locations must be objects, locations non-empty", () => {
    assert.deepEqual(errors({ servers: [5] }), ["servers[0]: must be an object"]);
    assert.deepEqual(errors({ servers: [{ listen: "1" }] }), ["servers[0].locations: must be a non-empty array of locations"]);
    assert.deepEqual(errors(one(["x"])), ["servers[0].locations[0]: must be an object"]);
  });
});

describe("normalizeConfig: unknown keys", () => {
  test("a push_stream_ directive name suggests its camelCase key", () => {
    assert.deepEqual(errors(one([sub()], { push_stream_message_ttl: "30m" })), [
      'push_stream_message_ttl: unknown key (did you mean "messageTtl"?)',
    ]);
  });

  test("a snake_case key in a location suggests its camelCase key", () => {
    assert.deepEqual(errors(one([sub({ longpolling_connection_ttl: "40s" })])), [
      'servers[0].locations[0].longpolling_connection_ttl: unknown key (did you mean "longpollingConnectionTtl"?)',
    ]);
  });

  test("a snake_case key on a server is reported at the server", () => {
    assert.deepEqual(errors(one([sub()], {}, { push_stream_longpolling_connection_ttl: 40 })), [
      'servers[0].push_stream_longpolling_connection_ttl: unknown key (did you mean "longpollingConnectionTtl"?)',
    ]);
  });

  test("a key with no close match gets no suggestion", () => {
    assert.deepEqual(errors(one([sub({ colour: "red" })])), ["servers[0].locations[0].colour: unknown key"]);
  });

  test("an http-level key inside a server or location is refused without suggesting the very same name", () => {
    const errs = errors(one([sub({ messageTtl: 60 })], {}, { maxNumberOfChannels: 5 }));
    assert.equal(errs.length, 2);
    assert.equal(errs[0], "servers[0].maxNumberOfChannels: not allowed here (it belongs at the top level)");
    assert.equal(errs[1], "servers[0].locations[0].messageTtl: not allowed here (it belongs at the top level)");
  });
});

describe("normalizeConfig: values push-stream rejects", () => {
  test("a zero messageTtl cannot be zero", () => {
    assert.deepEqual(errors(one([sub()], { messageTtl: 0 })), ["messageTtl: cannot be zero"]);
    assert.deepEqual(errors(one([sub()], { messageTtl: "0s" })), ["messageTtl: cannot be zero"]);
  });

  test("a zero connection ttl cannot be zero", () => {
    assert.deepEqual(errors(one([sub({ longpollingConnectionTtl: 0 })])), [
      "servers[0].locations[0].longpollingConnectionTtl: cannot be zero",
    ]);
  });

  test("a blank messageTemplate is rejected", () => {
    assert.deepEqual(errors(one([sub({ messageTemplate: "  " })])), ["servers[0].locations[0].messageTemplate: cannot be blank"]);
    assert.deepEqual(errors(one([sub({ messageTemplate: "" })])), ["servers[0].locations[0].messageTemplate: cannot be blank"]);
  });

  test("a non-string messageTemplate is rejected", () => {
    assert.deepEqual(errors(one([sub({ messageTemplate: 5 })])), ["servers[0].locations[0].messageTemplate: must be a string, got 5"]);
  });

  test("an invalid publisher mode", () => {
    assert.deepEqual(errors(one([pub({ publisher: "writer" })])), [
      "servers[0].locations[0].publisher: invalid publisher mode value: writer, accepted values (normal, admin)",
    ]);
  });

  test("an invalid subscriber mode", () => {
    assert.deepEqual(errors(one([sub({ subscriber: "push" })])), [
      "servers[0].locations[0].subscriber: invalid subscriber mode value: push, accepted values (streaming, polling, long-polling, eventsource, websocket)",
    ]);
  });

  test("a mode close to a valid one suggests it", () => {
    const suggested = (location: Record<string, unknown>): string => / \(did you mean .*$/.exec(errors(one([location]))[0]!)?.[0] ?? "";
    assert.equal(suggested(sub({ subscriber: "long-poll" })), ' (did you mean "long-polling"?)');
    assert.equal(suggested(sub({ subscriber: "longpolling" })), ' (did you mean "long-polling"?)');
    assert.equal(suggested(sub({ subscriber: "event-source" })), ' (did you mean "eventsource"?)');
    assert.equal(suggested(sub({ subscriber: "stream" })), ' (did you mean "streaming"?)');
    assert.equal(suggested(pub({ publisher: "admn" })), ' (did you mean "admin"?)');
    assert.equal(suggested(pub({ publisher: "writer" })), "");
  });

  test("every push-stream subscriber mode is accepted, in any case", () => {
    for (const mode of ["streaming", "Polling", "long-polling", "eventsource", "WebSocket"]) {
      assert.equal(location(ok(one([sub({ subscriber: mode })])), 0, 0).subscriber, mode.toLowerCase());
    }
  });

  test("paddingByUserAgent must be rules of regex,H,M", () => {
    assert.deepEqual(errors(one([sub({ paddingByUserAgent: "user_agent,as,df" })])), [
      "servers[0].locations[0].paddingByUserAgent: padding pattern not match the value user_agent,as,df",
    ]);
    assert.deepEqual(errors(one([sub({ paddingByUserAgent: "user_agent,10,0:other_user_agent;20;0" })])), [
      "servers[0].locations[0].paddingByUserAgent: error applying padding pattern to other_user_agent;20;0",
    ]);
    assert.deepEqual(errors(one([sub({ paddingByUserAgent: "([,1,1" })])).length, 1);
    const rules = location(ok(one([sub({ paddingByUserAgent: "[T|t]est 1,1024,508:[T|t]est 2,4097,0" })])), 0, 0).paddingByUserAgent;
    assert.equal(rules?.rules.length, 2);
    assert.equal(rules?.max, 4097);
  });

  test("a subscriber without channelsPath", () => {
    assert.deepEqual(errors(one([{ path: "/sub", subscriber: "polling" }])), [
      "servers[0].locations[0].channelsPath: must be set on a publisher or subscriber location",
    ]);
  });

  test("a publisher without channelsPath", () => {
    assert.deepEqual(errors(one([{ path: "/pub", publisher: "admin" }])), [
      "servers[0].locations[0].channelsPath: must be set on a publisher or subscriber location",
    ]);
  });

  test("a location cannot be both publisher and subscriber", () => {
    assert.deepEqual(errors(one([sub({ publisher: "normal" })])), [
      "servers[0].locations[0]: a location is either a publisher or a subscriber, not both",
    ]);
  });
});

describe("normalizeConfig: listen and paths", () => {
  test("a duplicate listen address", () => {
    const errs = errors({ servers: [{ listen: "8893", locations: [sub()] }, { listen: 8893, locations: [sub()] }] });
    assert.deepEqual(errs, ["servers[1].listen: *:8893 is already used by servers[0]"]);
  });

  test("the same port on different hosts is not a duplicate", () => {
    ok({ servers: [{ listen: "127.0.0.1:8893", locations: [sub()] }, { listen: "127.0.0.2:8893", locations: [sub()] }] });
  });

  test("port 0 (ephemeral) may repeat", () => {
    ok({ servers: [{ listen: "127.0.0.1:0", locations: [sub()] }, { listen: "127.0.0.1:0", locations: [sub()] }] });
  });

  test("a bad listen", () => {
    for (const listen of ["abc", ":80", "host:", "::1:80", "", undefined, true]) {
      assert.deepEqual(
        errors({ servers: [{ listen, locations: [sub()] }] }),
        ['servers[0].listen: must be "[host:]port", e.g. "8893" or "127.0.0.1:8895"'],
        String(listen),
      );
    }
  });

  test("a location needs a path starting with /", () => {
    assert.deepEqual(errors(one([{ deny: "all" }])), ["servers[0].locations[0].path: required"]);
    assert.deepEqual(errors(one([{ path: "sub" }])), ['servers[0].locations[0].path: must be a string starting with "/", got "sub"']);
  });

  test("only a location has a path", () => {
    assert.deepEqual(errors(one([sub()], { path: "/" })), ["path: only a location has a path"]);
    assert.deepEqual(errors(one([sub()], {}, { path: "/" })), ["servers[0].path: only a location has a path"]);
  });

  test("a path defined twice on one server", () => {
    assert.deepEqual(errors(one([sub(), sub()])), ['servers[0].locations[1].path: "/sub" is defined twice on this server']);
  });

  test("the same path on two servers is fine", () => {
    ok({ servers: [{ listen: "1", locations: [sub()] }, { listen: "2", locations: [sub()] }] });
  });
});

describe("normalizeConfig: header template file", () => {
  let dir = "";
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "pushwire-schema-"));
    writeFileSync(join(dir, "header.html"), "<html><body>\n");
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("is read at load time from an absolute path", () => {
    const l = location(ok(one([sub({ headerTemplateFile: join(dir, "header.html") })])), 0, 0);
    assert.equal(l.headerTemplate, "<html><body>\n");
  });

  test("a relative path is read from the base directory", () => {
    const l = location(ok(one([sub({ headerTemplateFile: "header.html" })]), dir), 0, 0);
    assert.equal(l.headerTemplate, "<html><body>\n");
  });

  test("a missing file is an error naming the key and the file", () => {
    const errs = errors(one([sub({ headerTemplateFile: "missing.html" })]), dir);
    assert.equal(errs.length, 1);
    assert.ok(errs[0]!.startsWith(`servers[0].locations[0].headerTemplateFile: cannot read ${dir}/missing.html: `), errs[0]);
  });

  test("an empty file name is an error", () => {
    assert.deepEqual(errors(one([sub({ headerTemplateFile: "" })])), ["servers[0].locations[0].headerTemplateFile: must be a file name"]);
  });

  test("headerTemplate and headerTemplateFile at the same level conflict", () => {
    const file = join(dir, "header.html");
    assert.deepEqual(errors(one([sub({ headerTemplate: "x", headerTemplateFile: file })])), [
      "servers[0].locations[0].headerTemplateFile: is duplicate or template set by headerTemplate",
    ]);
    assert.deepEqual(errors(one([sub()], { headerTemplate: "x", headerTemplateFile: file })), [
      "headerTemplateFile: is duplicate or template set by headerTemplate",
    ]);
  });

  test("loadConfigFile reads JSON and resolves the header file next to the config file", () => {
    const file = join(dir, "pushwire.json");
    writeFileSync(file, JSON.stringify(one([sub({ headerTemplateFile: "header.html" })])));
    const result = loadConfigFile(file);
    assert.equal(result.errors, undefined);
    assert.equal(result.config?.servers[0]?.locations[0]?.headerTemplate, "<html><body>\n");
  });

  test("loadConfigFile reports invalid JSON and unreadable files with the file name", () => {
    const bad = join(dir, "bad.json");
    writeFileSync(bad, "{ nope");
    const invalid = loadConfigFile(bad).errors;
    assert.equal(invalid?.length, 1);
    assert.ok(invalid[0]!.startsWith(`${bad}: invalid JSON: `), invalid[0]);
    const missing = loadConfigFile(join(dir, "absent.json")).errors;
    assert.equal(missing?.length, 1);
    assert.ok(missing[0]!.startsWith(`${join(dir, "absent.json")}: cannot read: `), missing[0]);
  });
});

describe("normalizeConfig: allow and deny", () => {
  test("allow takes one address or a list; deny takes all, one address or a list", () => {
    const config = ok(one([
      sub({ path: "/a", allow: "10.0.0.1" }),
      sub({ path: "/b", allow: ["10.0.0.0/8", "2001:db8::/32"], deny: "all" }),
      sub({ path: "/c", deny: ["192.0.2.0/24"] }),
      sub({ path: "/d", deny: "192.0.2.1" }),
    ]));
    assert.equal(location(config, 0, 0).access?.permits("10.0.0.1"), true);
    assert.equal(location(config, 0, 0).access?.permits("10.0.0.2"), false);
    assert.equal(location(config, 0, 1).access?.permits("2001:db8::5"), true);
    assert.equal(location(config, 0, 1).access?.permits("192.0.2.1"), false);
    assert.equal(location(config, 0, 2).access?.permits("192.0.2.9"), false);
    assert.equal(location(config, 0, 2).access?.permits("198.51.100.1"), true);
    assert.equal(location(config, 0, 3).access?.permits("192.0.2.1"), false);
    assert.equal(location(config, 0, 3).access?.permits("192.0.2.2"), true);
  });

  test("an invalid CIDR names the key and the value", () => {
    assert.deepEqual(errors(one([sub({ allow: ["127.0.0.0/8", "10.0.0.0/33"] })])), [
      'servers[0].locations[0].allow: invalid address or CIDR "10.0.0.0/33"',
    ]);
    assert.deepEqual(errors(one([sub({ deny: ["nobody"] })])), ['servers[0].locations[0].deny: invalid address or CIDR "nobody"']);
    assert.deepEqual(errors(one([sub({ allow: [5] })])), ["servers[0].locations[0].allow: invalid address or CIDR 5"]);
  });

  test("allow all is not an address list", () => {
    assert.deepEqual(errors(one([sub({ allow: "all" })])), ['servers[0].locations[0].allow: invalid address or CIDR "all"']);
  });

  test("a value that is neither a string nor a list", () => {
    assert.deepEqual(errors(one([sub({ deny: 5 })])), ['servers[0].locations[0].deny: must be "all" or an address, a CIDR or a list of them']);
    assert.deepEqual(errors(one([sub({ allow: { a: 1 } })])), ["servers[0].locations[0].allow: must be an address, a CIDR or a list of them"]);
  });
});

describe("effectiveConfig", () => {
  test("fills every http key with its value or default", () => {
    const out = effectiveConfig(one([sub()], { messageTtl: "24h" }));
    for (const [key, spec] of Object.entries(HTTP_KEYS)) {
      assert.ok(key in out, key);
      if (key !== "messageTtl") assert.deepEqual(out[key], spec.default, key);
    }
    assert.equal(out.messageTtl, "24h");
  });

  test("gives each location its inherited and default values", () => {
    const out = effectiveConfig(one([sub({ path: "/a" }), { path: "/", deny: "all" }], { storeMessages: true }, { messageTemplate: "S:~text~" }));
    const servers = out.servers as Raw[];
    assert.equal(servers.length, 1);
    assert.equal(servers[0]!.listen, "8893");
    const [a, root] = servers[0]!.locations as Raw[];
    assert.deepEqual(a, {
      path: "/a",
      subscriber: "long-polling",
      channelsPath: "$arg_id",
      authorizedChannelsOnly: false,
      rejectArgs: [],
      messageTemplate: "S:~text~",
      headerTemplate: "",
      footerTemplate: "",
      storeMessages: true,
      channelInfoOnPublish: true,
      clientMaxBodySize: 1048576,
      defaultType: "text/plain; charset=utf-8",
      wildcardChannelMaxQtd: 0,
      maxChannelsPerRequest: 1000,
      websocketAllowPublish: false,
      websocketMaxFrameSize: 1048576,
      websocketMaxControlFramesPerSecond: 50,
      subscriberMaxBacklog: 4194304,
    });
    assert.equal(root!.deny, "all");
    assert.equal(root!.storeMessages, true);
    assert.equal(root!.messageTemplate, "S:~text~");
    for (const key of Object.keys(root!)) assert.ok(key in LOCATION_KEYS, key);
  });

  test("the effective BitrixVM configuration validates again", () => {
    ok(effectiveConfig(bitrixVmConfig()));
  });

  test("the effective configuration of a location with a headerTemplateFile validates again", () => {
    const dir = mkdtempSync(join(tmpdir(), "pushwire-schema-"));
    try {
      writeFileSync(join(dir, "h.txt"), "HEADER");
      const effective = effectiveConfig(one([sub()], { headerTemplateFile: join(dir, "h.txt") }));
      const location0 = ((effective.servers as Raw[])[0]!.locations as Raw[])[0]!;
      assert.equal(location0.headerTemplateFile, join(dir, "h.txt"));
      const again = ok(effective);
      assert.equal(location(again, 0, 0).headerTemplate, "HEADER");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("messageLog", () => {
  test("absent: no log; present: defaults filled, path resolved against the file's folder", () => {
    assert.equal(ok(one([sub()])).messageLog, undefined);
    assert.deepEqual(ok(one([sub()], { messageLog: { path: "state" } }), "/etc/pushwire").messageLog,
      { path: "/etc/pushwire/state", fsync: "batch", segmentSize: 64 * 1024 * 1024 });
    assert.deepEqual(ok(one([sub()], { messageLog: { path: "/var/lib/pushwire", fsync: "always", segmentSize: "1m" } })).messageLog,
      { path: "/var/lib/pushwire", fsync: "always", segmentSize: 1024 * 1024 });
  });

  test("each mistake named: no path, unknown policy, tiny segments, unknown key, wrong place", () => {
    assert.deepEqual(errors(one([sub()], { messageLog: "/var/lib/pushwire" })), ['messageLog: must be an object like {"path": "/var/lib/pushwire", "fsync": "batch"}']);
    assert.deepEqual(errors(one([sub()], { messageLog: { fsync: "sometimes", segmentSize: "1k", pth: "/x" } })), [
      "messageLog.pth: unknown key (known: path, fsync, segmentSize)",
      "messageLog.path: must be a directory path",
      'messageLog.fsync: must be "always", "batch" or "off"',
      'messageLog.segmentSize: must be a size of at least 4k (e.g. "64m")',
    ]);
    assert.deepEqual(errors(one([sub()], {}, { messageLog: { path: "/x" } })), ["servers[0].messageLog: not allowed here (it belongs at the top level)"]);
  });
});
