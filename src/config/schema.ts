import { getHashes } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { AccessRules, Cidr } from "../core/access-rules.js";
import { PaddingRules } from "../core/padding.js";
import type { StoreLimits } from "../store/channel-store.js";
import { ComplexValue } from "./complex-value.js";
import { isObject, type Raw } from "./raw.js";
import { parseBroker, REDIS_DEFAULTS, type BrokerConfig } from "./redis.js";
import { parseSsl, type SslConfig } from "./ssl.js";
import { didYouMean } from "./suggest.js";
import { parseDuration, parseSize } from "./units.js";

/**
 * The configuration file. Keys are push-stream's directives without the `push_stream_` prefix,
 * camelCased (`push_stream_longpolling_connection_ttl` → `longpollingConnectionTtl`); nginx's own
 * directives keep their names too (`client_max_body_size` → `clientMaxBodySize`, `allow`, `deny`,
 * `default_type` → `defaultType`). http-level keys sit at the top; location-level keys may also be
 * set at the top or on a server and are inherited, as nginx merges them.
 */

export type SubscriberMode = "streaming" | "polling" | "long-polling" | "eventsource" | "websocket";
export const SUBSCRIBER_MODES: readonly SubscriberMode[] = ["streaming", "polling", "long-polling", "eventsource", "websocket"];

/** Settings that exist once per server process (nginx http{} level). */
export interface HttpSettings extends StoreLimits {
  pingMessageText: string;
  timeoutWithBody: boolean;
  clientMaxHeaderSize: number;
  /** Seconds a request head (and a TLS handshake) may take; nginx's client_header_timeout. */
  clientHeaderTimeout: number;
  eventsChannelId: string;
  /** Seconds between two `stats` log lines; 0 = none (pushwire). */
  logStatsInterval: number;
  /** One log line per request (pushwire). */
  accessLog: boolean;
  /** Bitrix Push server 2.0 `security.key`: HMAC key of signed channel ids ("" = ids unsigned). */
  securityKey: string;
  /** Bitrix Push server 2.0 `security.algo`: the HMAC's hash. */
  securityAlgo: string;
  /** Seconds a bitrix-push2 channel stays online after its last subscriber left (Push server 2.0 `onlineTTL`). */
  onlineTtl: number;
  /** bitrix-push2 connections on a user's private channel; a newer one closes the oldest (Push server 2.0 `limits.maxConnPerChannel`; 0 = unlimited). */
  maxConnPerChannel: number;
  /** Which HTTP parser serves subscriber-only servers (pushwire). */
  subscriberParser: SubscriberParser;
  /** Seconds a graceful stop may take; health listeners stay open that long (nginx's worker_shutdown_timeout). */
  workerShutdownTimeout: number;
}

/** "lean": pushwire's own parser on node:net/node:tls; "node": node:http. */
export type SubscriberParser = "lean" | "node";

/** The default parser; PUSHWIRE_SUBSCRIBER_PARSER overrides it (for running the test suite with either). */
function defaultSubscriberParser(): SubscriberParser {
  const chosen = process.env.PUSHWIRE_SUBSCRIBER_PARSER;
  return chosen === "lean" || chosen === "node" ? chosen : "lean";
}

/** The wire protocol a location speaks (pushwire): push-stream's, or Bitrix Push server 2.0's. */
export type Protocol = "push-stream" | "bitrix-push2";

/** One location after inheritance: everything a handler needs, already compiled. */
export interface LocationConfig {
  path: string;
  /** Which wire protocol the location speaks (pushwire): push-stream's, or Bitrix Push server 2.0's. */
  protocol: Protocol;
  publisher: "normal" | "admin" | undefined;
  subscriber: SubscriberMode | undefined;
  channelsPath: ComplexValue | undefined;
  lastReceivedMessageTag: ComplexValue | undefined;
  lastReceivedMessageTime: ComplexValue | undefined;
  lastEventId: ComplexValue | undefined;
  /** Seconds; undefined = hold forever. */
  longpollingConnectionTtl: number | undefined;
  subscriberConnectionTtl: number | undefined;
  pingMessageInterval: number | undefined;
  authorizedChannelsOnly: boolean;
  allowedOrigins: ComplexValue | undefined;
  rejectArgs: string[];
  messageTemplate: string;
  headerTemplate: string;
  footerTemplate: string;
  storeMessages: boolean;
  channelInfoOnPublish: boolean;
  access: AccessRules | undefined;
  clientMaxBodySize: number;
  defaultType: string;
  wildcardChannelMaxQtd: number;
  maxChannelsPerRequest: number;
  paddingByUserAgent: PaddingRules | undefined;
  userAgent: ComplexValue | undefined;
  websocketAllowPublish: boolean;
  websocketMaxFrameSize: number;
  /** Pings and pongs a WebSocket client may send per second; more close with 1008 (0 = no cap) (pushwire). */
  websocketMaxControlFramesPerSecond: number;
  subscriberMaxBacklog: number;
  allowConnectionsToEventsChannel: boolean;
  channelsStatistics: boolean;
  metrics: boolean;
  health: boolean;
  /** The location serves the live dashboard page and its feed (pushwire). */
  dashboard: boolean;
  /** The dashboard offers its "publish a test message" form (pushwire). */
  dashboardPublish: boolean;
  /** bitrix-push2 browser publishing (`publisher: "normal"`): requests per second per address (pushwire). */
  clientRequestsPerSecond: number;
}

export interface ListenAddress {
  host: string | undefined;
  port: number;
}

export interface ServerConfig {
  listen: ListenAddress;
  locations: LocationConfig[];
  /** Set: this listener speaks TLS (node:https). */
  ssl?: SslConfig | undefined;
}

export interface PushwireConfig {
  http: HttpSettings;
  servers: ServerConfig[];
  /** The message log (durability); absent: messages live in memory only. */
  messageLog?: MessageLogConfig | undefined;
  /** Processes that accept connections (node:cluster); "auto" = one per core. Absent: 1, one process. */
  workers?: number | "auto" | undefined;
  /** Shares every channel with other pushwire nodes through Redis; absent: this machine alone. */
  broker?: BrokerConfig | undefined;
}

/** The most worker processes a configuration may ask for. */
export const MAX_WORKERS = 256;

/** `workers`: a whole number 1–256 or "auto"; undefined (with an error pushed) otherwise. */
export function parseWorkers(value: unknown, errors: string[], where = "workers"): number | "auto" | undefined {
  if (value === "auto") return "auto";
  const number = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof number === "number" && Number.isInteger(number) && number >= 1 && number <= MAX_WORKERS) return number;
  errors.push(`${where}: must be a whole number from 1 to ${MAX_WORKERS}, or "auto" (one per core)`);
  return undefined;
}

/** When a publish is answered relative to the disk (persist/message-log.ts). */
export type FsyncPolicy = "always" | "batch" | "off";
export const FSYNC_POLICIES: readonly FsyncPolicy[] = ["always", "batch", "off"];

/** `messageLog: { path, fsync, segmentSize }`: where and how published messages are kept on disk. */
export interface MessageLogConfig {
  /** The directory (created if missing); relative to the configuration file. */
  path: string;
  fsync: FsyncPolicy;
  /** Bytes per segment file. */
  segmentSize: number;
}

export const MESSAGE_LOG_DEFAULTS = { fsync: "batch" as FsyncPolicy, segmentSize: 64 * 1024 * 1024 };

/** The `messageLog` block, checked; undefined (with errors pushed) when it is wrong. */
export function parseMessageLog(value: unknown, errors: string[], baseDir: string): MessageLogConfig | undefined {
  if (!isObject(value)) {
    errors.push(`messageLog: must be an object like {"path": "/var/lib/pushwire", "fsync": "batch"}`);
    return undefined;
  }
  const before = errors.length;
  for (const key of Object.keys(value)) {
    if (key !== "path" && key !== "fsync" && key !== "segmentSize" && key !== COMMENT_KEY) errors.push(`messageLog.${key}: unknown key (known: path, fsync, segmentSize)`);
  }
  const path = value.path;
  if (typeof path !== "string" || path.trim() === "") errors.push(`messageLog.path: must be a directory path`);
  const fsync = value.fsync ?? MESSAGE_LOG_DEFAULTS.fsync;
  if (!FSYNC_POLICIES.includes(fsync as FsyncPolicy)) errors.push(`messageLog.fsync: must be "always", "batch" or "off"`);
  const segmentSize = value.segmentSize === undefined ? MESSAGE_LOG_DEFAULTS.segmentSize : parseSize(value.segmentSize);
  if (segmentSize === undefined || segmentSize < 4096) errors.push(`messageLog.segmentSize: must be a size of at least 4k (e.g. "64m")`);
  if (errors.length > before) return undefined;
  return { path: resolve(baseDir, path as string), fsync: fsync as FsyncPolicy, segmentSize: segmentSize! };
}

type Kind = "duration" | "positiveDuration" | "size" | "count" | "boolean" | "string" | "template" | "complex"
  | "strings" | "publisher" | "subscriber" | "cidrs" | "deny" | "path" | "file" | "padding" | "protocol" | "parser";

interface KeySpec {
  kind: Kind;
  default?: unknown;
  help: string;
}

/** http-level keys, with defaults (push-stream's, except where noted in help). */
export const HTTP_KEYS: Record<keyof HttpSettings, KeySpec> = {
  maxMessagesStoredPerChannel: { kind: "count", default: 0, help: "ring size per channel; oldest dropped (0 = unlimited)" },
  messageTtl: { kind: "positiveDuration", default: 1800, help: "lifetime of a stored message" },
  maxChannelIdLength: { kind: "count", default: 0, help: "longer ids get 400 (0 = unlimited)" },
  maxNumberOfChannels: { kind: "count", default: 0, help: "channel cap; creation beyond it gets 403 (0 = unlimited)" },
  maxNumberOfWildcardChannels: { kind: "count", default: 0, help: "wildcard channel cap (0 = unlimited)" },
  wildcardChannelPrefix: { kind: "string", default: "", help: "ids starting with it are wildcard channels" },
  channelInactivityTime: { kind: "duration", default: 30, help: "an empty channel with no subscriber is removed after this" },
  maxSubscribersPerChannel: { kind: "count", default: 0, help: "subscriptions per channel; more get 403 (0 = unlimited)" },
  channelDeletedMessageText: { kind: "string", default: "Channel deleted", help: "text of the id -2 message" },
  pingMessageText: { kind: "string", default: " ", help: "text of the id -1 ping message (streaming modes)" },
  timeoutWithBody: { kind: "boolean", default: false, help: "long-poll timeout answers 200 with the id -3 message instead of 304" },
  clientMaxHeaderSize: { kind: "size", default: 16384, help: "request line + headers; larger requests get 431 (pushwire)" },
  clientHeaderTimeout: { kind: "positiveDuration", default: 30, help: "a request head (and a TLS handshake) must arrive within this, else 408 and the connection is closed (nginx client_header_timeout; default 30 s)" },
  sharedMemorySize: { kind: "size", default: 0, help: "estimated bytes of stored messages and channels; beyond it the oldest messages of the least recently used channels are evicted (0 = no cap)" },
  eventsChannelId: { kind: "string", default: "", help: "id of the channel receiving channel_created/destroyed and client_subscribed/unsubscribed events (\"\" = off)" },
  logStatsInterval: { kind: "duration", default: 60, help: "one `stats` log line this often; 0 = never (pushwire)" },
  accessLog: { kind: "boolean", default: false, help: "one log line per request (pushwire; long-poll traffic makes it large)" },
  securityKey: { kind: "string", default: "", help: "bitrix-push2: HMAC key of signed channel ids, the site's signature_key (pushwire; Push server 2.0 security.key)" },
  securityAlgo: { kind: "string", default: "sha1", help: "bitrix-push2: HMAC hash of channel signatures (pushwire; Push server 2.0 security.algo)" },
  onlineTtl: { kind: "duration", default: 120, help: "bitrix-push2: a channel stays online this long after its last subscriber left (pushwire; Push server 2.0 onlineTTL)" },
  maxConnPerChannel: { kind: "count", default: 100, help: "bitrix-push2: connections on a user's private channel (subscribed with its public pair); one more closes the oldest with 4029, the shared channel is unlimited (0 = unlimited) (pushwire; Push server 2.0 limits.maxConnPerChannel)" },
  subscriberParser: { kind: "parser", default: defaultSubscriberParser(), help: "\"lean\" (pushwire's own HTTP/1.1 parser on node:net: less memory per held connection, less CPU per publish) or \"node\" (node:http), for every server (pushwire; the name predates lean publishers)" },
  workerShutdownTimeout: { kind: "duration", default: 5, help: "graceful stop (SIGTERM): connections still open after this are cut; a listener with a health location keeps answering (503) until then (nginx's worker_shutdown_timeout)" },
};

/** Location-level keys (also allowed at the top level and on a server, and inherited). */
export const LOCATION_KEYS: Record<Exclude<keyof LocationConfig, "access"> | "allow" | "deny" | "headerTemplateFile", KeySpec> = {
  path: { kind: "path", help: "URI prefix; the longest matching prefix wins" },
  protocol: { kind: "protocol", help: "\"push-stream\" (default) or \"bitrix-push2\" (Bitrix Push server 2.0: protobuf, signed ids, mid) (pushwire)" },
  publisher: { kind: "publisher", help: "\"normal\" or \"admin\" (admin also allows DELETE)" },
  subscriber: { kind: "subscriber", help: "\"streaming\", \"polling\", \"long-polling\", \"eventsource\" or \"websocket\"" },
  channelsPath: { kind: "complex", help: "channel ids of the request, e.g. \"$arg_CHANNEL_ID\"" },
  lastReceivedMessageTag: { kind: "complex", help: "tag cursor instead of If-None-Match, e.g. \"$arg_tag\"" },
  lastReceivedMessageTime: { kind: "complex", help: "time cursor instead of If-Modified-Since, e.g. \"$arg_time\"" },
  lastEventId: { kind: "complex", help: "event id cursor instead of Last-Event-Id" },
  longpollingConnectionTtl: { kind: "positiveDuration", help: "how long a long-poll is held before 304 (default: subscriberConnectionTtl, else forever)" },
  subscriberConnectionTtl: { kind: "positiveDuration", help: "maximum lifetime of a streaming/eventsource/websocket connection (footer, then end)" },
  pingMessageInterval: { kind: "positiveDuration", help: "after this much silence a streaming/eventsource/websocket subscriber gets a ping" },
  authorizedChannelsOnly: { kind: "boolean", default: false, help: "subscribers may only join channels that hold a stored message" },
  allowedOrigins: { kind: "complex", help: "Access-Control-Allow-Origin value; enables CORS" },
  rejectArgs: { kind: "strings", default: [], help: "query arguments answered with 400 when present (BitrixVM rejects \"callback\")" },
  messageTemplate: { kind: "template", default: "~text~", help: "rendering of each message" },
  headerTemplate: { kind: "string", default: "", help: "sent before the messages of a response" },
  headerTemplateFile: { kind: "file", help: "file read at load time as headerTemplate" },
  footerTemplate: { kind: "string", default: "", help: "sent after the messages of a response" },
  storeMessages: { kind: "boolean", default: false, help: "keep published messages for catch-up" },
  channelInfoOnPublish: { kind: "boolean", default: true, help: "publish replies with the channel info JSON" },
  allow: { kind: "cidrs", help: "addresses allowed, e.g. [\"127.0.0.0/8\", \"::1\"]; others get 403" },
  deny: { kind: "deny", help: "\"all\" or a list of addresses answered with 403" },
  clientMaxBodySize: { kind: "size", default: 1048576, help: "publish body limit; larger gets 413" },
  defaultType: { kind: "string", default: "text/plain; charset=utf-8", help: "Content-Type of subscriber responses" },
  wildcardChannelMaxQtd: { kind: "count", default: 0, help: "wildcard channels per subscribe request (0 = maxNumberOfWildcardChannels)" },
  maxChannelsPerRequest: { kind: "count", default: 1000, help: "channel ids in one request; more get 400 (pushwire)" },
  paddingByUserAgent: { kind: "padding", help: "\"regex,H,M[:regex,H,M…]\": pad the header to H and each message to M bytes for matching user agents (streaming, eventsource)" },
  userAgent: { kind: "complex", help: "value matched by paddingByUserAgent (default: the User-Agent header)" },
  websocketAllowPublish: { kind: "boolean", default: false, help: "a WebSocket subscriber's text messages are published to all its channels" },
  websocketMaxFrameSize: { kind: "size", default: 1048576, help: "largest client WebSocket message; larger closes with 1009 (pushwire)" },
  websocketMaxControlFramesPerSecond: { kind: "count", default: 50, help: "pings and pongs a WebSocket client may send per second; more close with 1008, logged (0 = no cap) (pushwire)" },
  subscriberMaxBacklog: { kind: "size", default: 4194304, help: "bytes waiting for one slow streaming/eventsource/websocket subscriber (messages, pongs, close frames); past it the connection is closed (pushwire)" },
  allowConnectionsToEventsChannel: { kind: "boolean", help: "subscribers here may subscribe to the events channel (default false: 403)" },
  channelsStatistics: { kind: "boolean", help: "the location answers channel statistics (GET only)" },
  metrics: { kind: "boolean", help: "the location answers Prometheus metrics (pushwire)" },
  health: { kind: "boolean", help: "the location answers a health check: 200, or 503 while shutting down (pushwire)" },
  dashboard: { kind: "boolean", help: "the location serves the live dashboard page, e.g. /dashboard/ on the loopback listener (read-only unless dashboardPublish) (pushwire)" },
  dashboardPublish: { kind: "boolean", help: "the dashboard offers a \"publish a test message\" form (pushwire)" },
  clientRequestsPerSecond: { kind: "count", help: "bitrix-push2 browser publishing (/bitrix/rest/): requests per second per client address (default 10); more get 429 (0 = unlimited) (pushwire)" },
};

/** bitrix-push2 /bitrix/rest/: requests per second per client address when clientRequestsPerSecond is not set. */
export const DEFAULT_CLIENT_REQUESTS_PER_SECOND = 10;

const SERVER_ONLY = new Set(["listen", "locations", "ssl"]);
/** A note for the reader, allowed at every level and ignored (JSON has no comments; npm's convention). */
const COMMENT_KEY = "//";

/** A valid configuration comes with the JSON it was made from (what `effectiveConfig` reads). */
export type ConfigResult = { config: PushwireConfig; raw: Record<string, unknown>; errors?: undefined } | { config?: undefined; errors: string[] };


/** Validates a parsed JSON configuration; every problem comes back as "where: what". */
export function normalizeConfig(input: unknown, baseDir = "."): ConfigResult {
  const errors: string[] = [];
  if (!isObject(input)) return { errors: ["configuration: must be a JSON object"] };

  const http = {} as Record<string, unknown>;
  for (const [key, spec] of Object.entries(HTTP_KEYS)) {
    http[key] = key in input ? convert(input[key], spec, key, errors, baseDir) : spec.default;
  }
  const topLocation = pickLocationKeys(input, "", errors);
  checkInheritedKeys(topLocation, "", errors, baseDir);
  for (const key of Object.keys(input)) {
    if (!(key in HTTP_KEYS) && !(key in LOCATION_KEYS) && key !== "servers" && key !== "messageLog" && key !== "workers" && key !== "broker" && key !== COMMENT_KEY) errors.push(`${key}: ${keyProblem(key)}`);
  }

  const servers: ServerConfig[] = [];
  const rawServers = input.servers;
  if (!Array.isArray(rawServers) || rawServers.length === 0) {
    errors.push("servers: must be a non-empty array of servers");
  } else {
    const seen = new Map<string, string>();
    rawServers.forEach((rawServer, si) => {
      const where = `servers[${si}]`;
      if (!isObject(rawServer)) return errors.push(`${where}: must be an object`);
      for (const key of Object.keys(rawServer)) {
        if (!SERVER_ONLY.has(key) && !(key in LOCATION_KEYS) && key !== COMMENT_KEY) errors.push(`${where}.${key}: ${keyProblem(key)}`);
      }
      const listen = parseListen(rawServer.listen);
      if (typeof listen === "string") errors.push(`${where}.listen: ${listen}`);
      else {
        const id = `${listen.host ?? "*"}:${listen.port}`;
        if (listen.port !== 0 && seen.has(id)) errors.push(`${where}.listen: ${id} is already used by ${seen.get(id)}`);
        seen.set(id, where);
      }
      const serverLocation = pickLocationKeys(rawServer, `${where}.`, errors);
      checkInheritedKeys(serverLocation, `${where}.`, errors, baseDir);
      const locations: LocationConfig[] = [];
      const rawLocations = rawServer.locations;
      if (!Array.isArray(rawLocations) || rawLocations.length === 0) {
        errors.push(`${where}.locations: must be a non-empty array of locations`);
      } else {
        const paths = new Set<string>();
        rawLocations.forEach((rawLocation, li) => {
          const lwhere = `${where}.locations[${li}]`;
          if (!isObject(rawLocation)) return errors.push(`${lwhere}: must be an object`);
          for (const key of Object.keys(rawLocation)) {
            if (!(key in LOCATION_KEYS) && key !== COMMENT_KEY) errors.push(`${lwhere}.${key}: ${keyProblem(key)}`);
          }
          const own = pickLocationKeys(rawLocation, `${lwhere}.`, errors);
          const merged = { ...topLocation, ...serverLocation, ...own };
          const location = buildLocation(merged, new Set(Object.keys(own)), lwhere, errors, baseDir);
          if (location) {
            if (paths.has(location.path)) errors.push(`${lwhere}.path: "${location.path}" is defined twice on this server`);
            paths.add(location.path);
            locations.push(location);
          }
        });
      }
      const ssl = rawServer.ssl === undefined ? undefined : parseSsl(rawServer.ssl, `${where}.ssl`, errors, baseDir);
      if (typeof listen !== "string") servers.push({ listen, locations, ssl });
    });
  }

  if (typeof http.securityAlgo === "string" && !getHashes().includes(http.securityAlgo.toLowerCase())) errors.push(`securityAlgo: unknown hash ${JSON.stringify(http.securityAlgo)} (e.g. "sha1", "sha256")`);
  const messageLog = input.messageLog === undefined ? undefined : parseMessageLog(input.messageLog, errors, baseDir);
  const workers = input.workers === undefined ? undefined : parseWorkers(input.workers, errors);
  const broker = input.broker === undefined ? undefined : parseBroker(input.broker, errors, COMMENT_KEY);
  if (errors.length > 0) return { errors };
  return { config: { http: http as unknown as HttpSettings, servers, messageLog, workers, broker }, raw: input };
}

/** Reads and validates a JSON configuration file. */
export function loadConfigFile(file: string): ConfigResult {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    return { errors: [`${file}: cannot read: ${(error as Error).message}`] };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return { errors: [`${file}: invalid JSON: ${jsonProblem(text, error as Error)}`] };
  }
  const dir = file.includes("/") ? file.slice(0, file.lastIndexOf("/")) || "/" : ".";
  return normalizeConfig(parsed, dir);
}

/** V8's JSON error with the line and column of its offset ("position 126" says little in a config file). */
function jsonProblem(text: string, error: Error): string {
  const message = error.message;
  const position = / at position (\d+)/.exec(message);
  const offset = position ? Number(position[1]) : /^Unexpected end of JSON input/.test(message) ? text.length : undefined;
  if (offset === undefined) return message;
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  const column = offset - before.lastIndexOf("\n");
  return `${message.replace(/ at position \d+.*$/, "")} at line ${line} column ${column}`;
}

/** The location keys present in one object, with the template-file conflict checked per level. */
function pickLocationKeys(raw: Raw, where: string, errors: string[]): Raw {
  const picked: Raw = {};
  for (const key of Object.keys(raw)) if (key in LOCATION_KEYS && key !== "path") picked[key] = raw[key];
  if ("path" in raw && where.includes("locations[")) picked.path = raw.path;
  else if ("path" in raw) errors.push(`${where}path: only a location has a path`);
  if ("headerTemplate" in picked && "headerTemplateFile" in picked) {
    errors.push(`${where}headerTemplateFile: is duplicate or template set by headerTemplate`);
  } else if ("headerTemplate" in picked) {
    picked.headerTemplateFile = undefined; // a nearer headerTemplate overrides an inherited file
  } else if ("headerTemplateFile" in picked) {
    picked.headerTemplate = undefined;
  }
  return picked;
}

/** Location keys set at the top level or on a server are checked once, where they are written. */
function checkInheritedKeys(picked: Raw, where: string, errors: string[], baseDir: string): void {
  for (const [key, value] of Object.entries(picked)) {
    if (value !== undefined) convert(value, LOCATION_KEYS[key as keyof typeof LOCATION_KEYS], `${where}${key}`, errors, baseDir);
  }
}

function buildLocation(raw: Raw, own: Set<string>, where: string, errors: string[], baseDir: string): LocationConfig | undefined {
  const before = errors.length;
  const inheritedErrors: string[] = []; // already reported where they are written
  const value = (key: keyof typeof LOCATION_KEYS): unknown => {
    const spec = LOCATION_KEYS[key];
    const given = raw[key];
    if (given === undefined) return spec.default;
    return convert(given, spec, `${where}.${key}`, own.has(key) ? errors : inheritedErrors, baseDir);
  };
  const path = value("path") as string | undefined;
  if (raw.path === undefined) errors.push(`${where}.path: required`);
  const publisher = value("publisher") as LocationConfig["publisher"];
  const subscriber = value("subscriber") as SubscriberMode | undefined;
  if (publisher && subscriber) errors.push(`${where}: a location is either a publisher or a subscriber, not both`);
  // Role flags have no default, so --print-config does not list them on every location.
  const channelsStatistics = value("channelsStatistics") === true;
  const metrics = value("metrics") === true;
  const health = value("health") === true;
  const dashboard = value("dashboard") === true;
  const dashboardPublish = value("dashboardPublish") === true;
  const roles = [publisher && "publisher", subscriber && "subscriber", channelsStatistics && "channelsStatistics", metrics && "metrics", health && "health", dashboard && "dashboard"].filter(Boolean);
  if (roles.length > 1 && !(publisher && subscriber)) errors.push(`${where}: a location has one role, not ${roles.join(" and ")}`);
  const channelsPath = value("channelsPath") as ComplexValue | undefined;
  if ((publisher || subscriber) && raw.channelsPath === undefined) errors.push(`${where}.channelsPath: must be set on a publisher or subscriber location`);
  // No spec default, so --print-config does not list it on every push-stream location.
  const protocol = (value("protocol") as Protocol | undefined) ?? "push-stream";
  if (protocol === "bitrix-push2" && subscriber && subscriber !== "long-polling" && subscriber !== "websocket") {
    errors.push(`${where}.subscriber: bitrix-push2 serves "long-polling" and "websocket" subscribers only`);
  }
  if (dashboardPublish && !dashboard && own.has("dashboardPublish")) errors.push(`${where}.dashboardPublish: only a dashboard location has a publish form`);
  if (protocol === "bitrix-push2" && (metrics || health || dashboard)) errors.push(`${where}.protocol: bitrix-push2 applies to publishers, subscribers and channelsStatistics (/server-stat/)`);
  if (channelsStatistics && raw.channelsPath === undefined && protocol !== "bitrix-push2") errors.push(`${where}.channelsPath: must be set on a channelsStatistics location (e.g. "$arg_id")`);
  const allow = value("allow") as Cidr[] | undefined;
  const deny = value("deny") as Cidr[] | "all" | undefined;
  const fileTemplate = value("headerTemplateFile") as string | undefined;
  const location: LocationConfig = {
    path: path ?? "/",
    protocol,
    publisher,
    subscriber,
    channelsPath,
    lastReceivedMessageTag: value("lastReceivedMessageTag") as ComplexValue | undefined,
    lastReceivedMessageTime: value("lastReceivedMessageTime") as ComplexValue | undefined,
    lastEventId: value("lastEventId") as ComplexValue | undefined,
    longpollingConnectionTtl: (value("longpollingConnectionTtl") ?? value("subscriberConnectionTtl")) as number | undefined,
    subscriberConnectionTtl: value("subscriberConnectionTtl") as number | undefined,
    pingMessageInterval: value("pingMessageInterval") as number | undefined,
    authorizedChannelsOnly: value("authorizedChannelsOnly") as boolean,
    allowedOrigins: value("allowedOrigins") as ComplexValue | undefined,
    rejectArgs: value("rejectArgs") as string[],
    messageTemplate: value("messageTemplate") as string,
    headerTemplate: fileTemplate ?? (value("headerTemplate") as string),
    footerTemplate: value("footerTemplate") as string,
    storeMessages: value("storeMessages") as boolean,
    channelInfoOnPublish: value("channelInfoOnPublish") as boolean,
    access: allow || deny ? new AccessRules(allow, deny) : undefined,
    clientMaxBodySize: value("clientMaxBodySize") as number,
    defaultType: value("defaultType") as string,
    wildcardChannelMaxQtd: value("wildcardChannelMaxQtd") as number,
    maxChannelsPerRequest: value("maxChannelsPerRequest") as number,
    paddingByUserAgent: value("paddingByUserAgent") as PaddingRules | undefined,
    userAgent: value("userAgent") as ComplexValue | undefined,
    websocketAllowPublish: value("websocketAllowPublish") as boolean,
    websocketMaxFrameSize: value("websocketMaxFrameSize") as number,
    websocketMaxControlFramesPerSecond: value("websocketMaxControlFramesPerSecond") as number,
    subscriberMaxBacklog: value("subscriberMaxBacklog") as number,
    allowConnectionsToEventsChannel: value("allowConnectionsToEventsChannel") === true,
    channelsStatistics,
    metrics,
    health,
    dashboard,
    dashboardPublish,
    clientRequestsPerSecond: (value("clientRequestsPerSecond") as number | undefined) ?? DEFAULT_CLIENT_REQUESTS_PER_SECOND,
  };
  return errors.length === before && inheritedErrors.length === 0 ? location : undefined;
}

function convert(value: unknown, spec: KeySpec, where: string, errors: string[], baseDir: string): unknown {
  const fail = (what: string): undefined => {
    errors.push(`${where}: ${what}`);
    return undefined;
  };
  switch (spec.kind) {
    case "duration":
    case "positiveDuration": {
      const seconds = parseDuration(value);
      if (seconds === undefined) return fail(`invalid duration ${JSON.stringify(value)} (use seconds or an nginx time such as "40s", "30m", "24h")`);
      if (spec.kind === "positiveDuration" && seconds === 0) return fail("cannot be zero");
      return seconds;
    }
    case "size": {
      const bytes = parseSize(value);
      return bytes === undefined ? fail(`invalid size ${JSON.stringify(value)} (use bytes or "32k", "1M")`) : bytes;
    }
    case "count":
      return Number.isInteger(value) && (value as number) >= 0 ? value : fail(`must be a whole number ≥ 0, got ${JSON.stringify(value)}`);
    case "boolean":
      return typeof value === "boolean" ? value : fail(`must be true or false, got ${JSON.stringify(value)}`);
    case "string":
      return typeof value === "string" ? value : fail(`must be a string, got ${JSON.stringify(value)}`);
    case "template":
      if (typeof value !== "string") return fail(`must be a string, got ${JSON.stringify(value)}`);
      return value.trim() === "" ? fail("cannot be blank") : value;
    case "path":
      return typeof value === "string" && value.startsWith("/") ? value : fail(`must be a string starting with "/", got ${JSON.stringify(value)}`);
    case "file": {
      if (typeof value !== "string" || value === "") return fail("must be a file name");
      const file = value.startsWith("/") ? value : `${baseDir}/${value}`;
      try {
        return readFileSync(file, "utf8");
      } catch (error) {
        return fail(`cannot read ${file}: ${(error as Error).message}`);
      }
    }
    case "complex": {
      if (typeof value !== "string") return fail(`must be a string, got ${JSON.stringify(value)}`);
      const compiled = ComplexValue.compile(value);
      return typeof compiled === "string" ? fail(compiled) : compiled;
    }
    case "strings":
      return Array.isArray(value) && value.every((v) => typeof v === "string" && v !== "") ? value : fail("must be an array of non-empty strings");
    case "publisher": {
      const mode = typeof value === "string" ? value.toLowerCase() : "";
      return mode === "normal" || mode === "admin" ? mode : fail(`invalid publisher mode value: ${String(value)}, accepted values (normal, admin)${didYouMean(mode, ["normal", "admin"])}`);
    }
    case "subscriber": {
      const mode = typeof value === "string" ? value.toLowerCase() : "";
      if ((SUBSCRIBER_MODES as readonly string[]).includes(mode)) return mode;
      return fail(`invalid subscriber mode value: ${String(value)}, accepted values (${SUBSCRIBER_MODES.join(", ")})${didYouMean(mode, SUBSCRIBER_MODES)}`);
    }
    case "protocol":
      return value === "push-stream" || value === "bitrix-push2" ? value : fail(`invalid protocol ${JSON.stringify(value)}, accepted values (push-stream, bitrix-push2)`);
    case "parser":
      return value === "lean" || value === "node" ? value : fail(`must be "lean" or "node", got ${JSON.stringify(value)}`);
    case "padding": {
      if (typeof value !== "string") return fail(`must be a string, got ${JSON.stringify(value)}`);
      if (value === "") return undefined;
      const rules = PaddingRules.parse(value);
      return typeof rules === "string" ? fail(rules) : rules;
    }
    case "cidrs":
    case "deny": {
      if (spec.kind === "deny" && value === "all") return "all";
      const list = typeof value === "string" ? [value] : value;
      if (!Array.isArray(list)) return fail(`must be ${spec.kind === "deny" ? "\"all\" or " : ""}an address, a CIDR or a list of them`);
      const cidrs: Cidr[] = [];
      for (const item of list) {
        const cidr = typeof item === "string" ? Cidr.parse(item) : undefined;
        if (!cidr) return fail(`invalid address or CIDR ${JSON.stringify(item)}`);
        cidrs.push(cidr);
      }
      return cidrs;
    }
  }
}

/** The address, or why it is not one. */
function parseListen(value: unknown): ListenAddress | string {
  const malformed = 'must be "[host:]port", e.g. "8893" or "127.0.0.1:8895"';
  const text = typeof value === "number" ? String(value) : value;
  if (typeof text !== "string") return malformed;
  const m = /^(?:(\[[0-9a-fA-F:.]+\]|[^:\s]+):)?(\d+)$/.exec(text.trim());
  if (!m) return malformed;
  const port = Number(m[2]);
  if (port > 65535) return `port ${m[2]} is out of range (0-65535)`;
  const host = m[1]?.replace(/^\[|\]$/g, "");
  return { host: host === "*" ? undefined : host, port };
}

const ALL_KEYS = [...Object.keys(HTTP_KEYS), ...Object.keys(LOCATION_KEYS), ...SERVER_ONLY, "servers", "messageLog", "workers", "broker"];

/** Why a key is refused where it stands: known elsewhere, or unknown (with a likely intended name). */
function keyProblem(key: string): string {
  if (key in HTTP_KEYS || key === "servers" || key === "messageLog" || key === "workers" || key === "broker") return "not allowed here (it belongs at the top level)";
  if (SERVER_ONLY.has(key)) return "not allowed here (it belongs on a server)";
  const plain = key.replace(/^push_stream_/, "").replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  const lower = plain.toLowerCase();
  const hit = ALL_KEYS.find((k) => k.toLowerCase() === lower);
  return hit ? `unknown key (did you mean "${hit}"?)` : "unknown key";
}

/**
 * The effective configuration in the file's own shape: every http key with its value or default,
 * every location with its inherited and default values. What `--print-config` shows.
 */
export function effectiveConfig(input: Raw): Raw {
  const out: Raw = comment(input);
  for (const [key, spec] of Object.entries(HTTP_KEYS)) out[key] = input[key] ?? spec.default;
  const top = pickLocationKeys(input, "", []);
  out.servers = (input.servers as Raw[]).map((server) => {
    const inherited = { ...top, ...pickLocationKeys(server, "servers[].", []) };
    return {
      ...comment(server),
      listen: String(server.listen),
      ...(server.ssl === undefined ? {} : { ssl: server.ssl }),
      locations: (server.locations as Raw[]).map((location) => {
        const merged: Raw = { ...inherited, ...pickLocationKeys(location, "locations[].", []) };
        const result: Raw = comment(location);
        for (const [key, spec] of Object.entries(LOCATION_KEYS)) {
          if (key === "headerTemplateFile" || (key === "headerTemplate" && merged.headerTemplateFile !== undefined)) continue;
          const value = merged[key] ?? spec.default;
          if (value !== undefined) result[key] = value;
        }
        if (merged.headerTemplateFile !== undefined) result.headerTemplateFile = merged.headerTemplateFile;
        return result;
      }),
    };
  });
  out.workers = input.workers ?? 1;
  if (isObject(input.messageLog)) out.messageLog = { fsync: MESSAGE_LOG_DEFAULTS.fsync, segmentSize: "64m", ...input.messageLog };
  if (isObject(input.broker) && isObject(input.broker.redis)) out.broker = { ...input.broker, redis: { ...REDIS_DEFAULTS, ...input.broker.redis } };
  return out;
}

/** The reader's note of one level, kept first in the printed configuration. */
function comment(raw: Raw): Raw {
  return raw[COMMENT_KEY] === undefined ? {} : { [COMMENT_KEY]: raw[COMMENT_KEY] };
}
