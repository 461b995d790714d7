/**
 * The channel statistics bodies, byte for byte as push-stream writes them (PROTOCOL.md §11.3):
 * JSON, plain text, YAML and XML, every line ending in CRLF. Unlike push-stream, a channel id (and
 * the host name) is escaped for its format where it needs it — JSON string escapes, XML entities,
 * a double-quoted YAML scalar — so no id can break the document; ordinary ids come out as push-stream
 * writes them. Plain text needs nothing: ids carry no control characters (core/channel-path).
 * HTML is pushwire's own, for a person with a browser. Each format renders a single channel,
 * a group (ALL, prefix*, several ids) and the summary.
 */

import { escapeJsonString } from "../core/escape.js";

export interface ChannelRow {
  id: string;
  publishedMessages: number;
  storedMessages: number;
  subscribers: number;
}

/** What every group answer starts with. */
export interface GroupHead {
  hostname: string;
  /** UTC "YYYY-MM-DDTHH:MM:SS". */
  time: string;
  channels: number;
  wildcardChannels: number;
  uptime: number;
}

export interface WorkerRow {
  pid: number;
  subscribers: number;
  uptime: number;
}

export interface Summary extends GroupHead {
  publishedMessages: number;
  storedMessages: number;
  messagesInTrash: number;
  channelsInDelete: number;
  channelsInTrash: number;
  subscribers: number;
  workers: WorkerRow[];
}

export interface StatsFormat {
  contentType: string;
  single(row: ChannelRow): string;
  group(head: GroupHead, rows: readonly ChannelRow[]): string;
  summary(summary: Summary): string;
}

const CRLF = "\r\n";

/** Items joined push-stream's way: every item but the last gets `separator`; the last gets `last`. */
function items<T>(list: readonly T[], render: (item: T) => string, separator: string, last: string): string {
  let out = "";
  for (let i = 0; i < list.length; i++) out += render(list[i]!) + (i < list.length - 1 ? separator : last);
  return out;
}

const jsonChannel = (r: ChannelRow): string =>
  `{"channel": "${escapeJsonString(r.id)}", "published_messages": ${r.publishedMessages}, "stored_messages": ${r.storedMessages}, "subscribers": ${r.subscribers}}`;
const jsonWorker = (w: WorkerRow): string => `{"pid": "${w.pid}", "subscribers": ${w.subscribers}, "uptime": ${w.uptime}}`;

function json(contentType: string): StatsFormat {
  return {
    contentType,
    single: (r) => jsonChannel(r) + CRLF,
    group: (h, rows) =>
      `{"hostname": "${escapeJsonString(h.hostname)}", "time": "${h.time}", "channels": ${h.channels}, "wildcard_channels": ${h.wildcardChannels}, "uptime": ${h.uptime}, "infos": [${CRLF}`
      + items(rows, jsonChannel, `,${CRLF}`, CRLF) + `]}${CRLF}`,
    summary: (s) =>
      `{"hostname": "${escapeJsonString(s.hostname)}", "time": "${s.time}", "channels": ${s.channels}, "wildcard_channels": ${s.wildcardChannels}, `
      + `"published_messages": ${s.publishedMessages}, "stored_messages": ${s.storedMessages}, "messages_in_trash": ${s.messagesInTrash}, `
      + `"channels_in_delete": ${s.channelsInDelete}, "channels_in_trash": ${s.channelsInTrash}, "subscribers": ${s.subscribers}, `
      + `"uptime": ${s.uptime}, "by_worker": [${CRLF}` + items(s.workers, jsonWorker, `,${CRLF}`, "") + `${CRLF}]}${CRLF}`,
  };
}

const plainChannel = (r: ChannelRow): string =>
  `channel: ${r.id}${CRLF}published_messages: ${r.publishedMessages}${CRLF}stored_messages: ${r.storedMessages}${CRLF}active_subscribers: ${r.subscribers}`;
const plainWorker = (w: WorkerRow): string => `  pid: ${w.pid}${CRLF}  subscribers: ${w.subscribers}${CRLF}  uptime: ${w.uptime}`;

/** The summary's fields in push-stream's order, as [name, value]; `host` writes the host name for the format. */
function summaryFields(s: Summary, host: (name: string) => string = String): Array<[string, string | number]> {
  return [
    ["hostname", host(s.hostname)], ["time", s.time], ["channels", s.channels], ["wildcard_channels", s.wildcardChannels],
    ["published_messages", s.publishedMessages], ["stored_messages", s.storedMessages], ["messages_in_trash", s.messagesInTrash],
    ["channels_in_delete", s.channelsInDelete], ["channels_in_trash", s.channelsInTrash], ["subscribers", s.subscribers], ["uptime", s.uptime],
  ];
}

const plain: StatsFormat = {
  contentType: "text/plain",
  single: (r) => plainChannel(r) + CRLF,
  group: (h, rows) =>
    `hostname: ${h.hostname}, time: ${h.time}, channels: ${h.channels}, wildcard_channels: ${h.wildcardChannels}, uptime: ${h.uptime}, infos: ${CRLF}`
    + items(rows, plainChannel, `,${CRLF}`, "") + CRLF,
  summary: (s) =>
    summaryFields(s).map(([name, value]) => `${name}: ${value}${CRLF}`).join("")
    + `by_worker:${CRLF}` + items(s.workers, plainWorker, `,${CRLF}`, "") + CRLF,
};

/** Plain scalars YAML would read as a number, a boolean or null rather than as this text. */
const YAML_NUMBER = /^[-+]?(?:\.[0-9]|[0-9])[0-9_]*(?:\.[0-9_]*)?(?:e[-+]?[0-9]+)?$|^0[xob][0-9a-f_]+$/i;
const YAML_WORD = /^(?:true|false|yes|no|on|off|y|n|null|\.inf|\.nan)$/i;
const YAML_PLAIN = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/**
 * A YAML scalar that reads back as `text`: plain when it safely can (what push-stream writes),
 * else double-quoted with JSON's escapes, which YAML's double-quoted style shares.
 */
function yamlScalar(text: string): string {
  return YAML_PLAIN.test(text) && !YAML_NUMBER.test(text) && !YAML_WORD.test(text) ? text : JSON.stringify(text);
}

const yamlChannel = (r: ChannelRow): string =>
  `  channel: ${yamlScalar(r.id)}${CRLF}  published_messages: ${r.publishedMessages}${CRLF}  stored_messages: ${r.storedMessages}${CRLF}  subscribers: ${r.subscribers}`;
const yamlWorker = (w: WorkerRow): string => `   -${CRLF}    pid: ${w.pid}${CRLF}    subscribers: ${w.subscribers}${CRLF}    uptime: ${w.uptime}`;

function yaml(contentType: string): StatsFormat {
  return {
    contentType,
    single: (r) => yamlChannel(r) + CRLF,
    group: (h, rows) =>
      `hostname: ${yamlScalar(h.hostname)}${CRLF}time: ${h.time}${CRLF}channels: ${h.channels}${CRLF}wildcard_channels: ${h.wildcardChannels}${CRLF}`
      + `uptime: ${h.uptime}${CRLF}infos: ${CRLF}` + items(rows, (r) => ` -${CRLF}${yamlChannel(r)}`, CRLF, "") + CRLF,
    summary: (s) =>
      summaryFields(s, yamlScalar).map(([name, value]) => `  ${name}: ${value}${CRLF}`).join("")
      + `  by_worker:${CRLF}` + items(s.workers, yamlWorker, CRLF, "") + CRLF,
  };
}

const XML_DECLARATION = `<?xml version="1.0" encoding="UTF-8" ?>${CRLF}`;
const xmlChannel = (r: ChannelRow): string =>
  `<channel>${CRLF}  <name>${escapeMarkup(r.id)}</name>${CRLF}  <published_messages>${r.publishedMessages}</published_messages>${CRLF}`
  + `  <stored_messages>${r.storedMessages}</stored_messages>${CRLF}  <subscribers>${r.subscribers}</subscribers>${CRLF}</channel>${CRLF}`;
const xmlWorker = (w: WorkerRow): string =>
  `<worker>${CRLF}  <pid>${w.pid}</pid>${CRLF}  <subscribers>${w.subscribers}</subscribers>${CRLF}  <uptime>${w.uptime}</uptime>${CRLF}</worker>${CRLF}`;

const xml: StatsFormat = {
  contentType: "application/xml",
  single: (r) => XML_DECLARATION + xmlChannel(r) + CRLF,
  group: (h, rows) =>
    `${XML_DECLARATION}<root>${CRLF}  <hostname>${escapeMarkup(h.hostname)}</hostname>${CRLF}  <time>${h.time}</time>${CRLF}`
    + `  <channels>${h.channels}</channels>${CRLF}  <wildcard_channels>${h.wildcardChannels}</wildcard_channels>${CRLF}`
    + `  <uptime>${h.uptime}</uptime>${CRLF}  <infos>${CRLF}` + rows.map(xmlChannel).join("") + `  </infos>${CRLF}</root>${CRLF}`,
  summary: (s) =>
    `${XML_DECLARATION}<infos>${CRLF}` + summaryFields(s, escapeMarkup).map(([name, value]) => `  <${name}>${value}</${name}>${CRLF}`).join("")
    + `  <by_worker>${s.workers.map(xmlWorker).join("")}</by_worker>${CRLF}</infos>${CRLF}`,
};

/** Text inside an XML or HTML element or a double-quoted attribute. */
function escapeMarkup(text: string): string {
  return text.replace(/[&<>"]/g, (c) => (c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : "&quot;"));
}

function htmlPage(title: string, body: string): string {
  return `<!DOCTYPE html>${CRLF}<html><head><meta charset="utf-8"><title>${escapeMarkup(title)}</title></head><body>${CRLF}`
    + `<h1>${escapeMarkup(title)}</h1>${CRLF}${body}</body></html>${CRLF}`;
}

function htmlTable(headings: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number>>): string {
  const cells = (tag: string, row: ReadonlyArray<string | number>): string => `<tr>${row.map((c) => `<${tag}>${escapeMarkup(String(c))}</${tag}>`).join("")}</tr>${CRLF}`;
  return `<table>${CRLF}${cells("th", headings)}${rows.map((row) => cells("td", row)).join("")}</table>${CRLF}`;
}

const CHANNEL_HEADINGS = ["channel", "published_messages", "stored_messages", "subscribers"] as const;
const channelCells = (r: ChannelRow): Array<string | number> => [r.id, r.publishedMessages, r.storedMessages, r.subscribers];

/** pushwire's HTML: the same fields as the other formats, as tables. */
const html: StatsFormat = {
  contentType: "text/html; charset=utf-8",
  single: (r) => htmlPage(`channel ${r.id}`, htmlTable(CHANNEL_HEADINGS, [channelCells(r)])),
  group: (h, rows) =>
    htmlPage(`channels on ${h.hostname}`, htmlTable(["hostname", "time", "channels", "wildcard_channels", "uptime"], [[h.hostname, h.time, h.channels, h.wildcardChannels, h.uptime]])
      + htmlTable(CHANNEL_HEADINGS, rows.map(channelCells))),
  summary: (s) =>
    htmlPage(`pushwire on ${s.hostname}`, htmlTable(["name", "value"], summaryFields(s))
      + htmlTable(["pid", "subscribers", "uptime"], s.workers.map((w) => [w.pid, w.subscribers, w.uptime]))),
};

/** Accept subtypes in push-stream's order; `html` (pushwire) is tried last at each `/`. */
const SUBTYPES: ReadonlyArray<[string, StatsFormat]> = [
  ["plain", plain],
  ["json", json("application/json")],
  ["yaml", yaml("application/yaml")],
  ["xml", xml],
  ["x-json", json("text/x-json")],
  ["x-yaml", yaml("text/x-yaml")],
  ["html", html],
];

const DEFAULT_FORMAT = SUBTYPES[1]![1];

/**
 * push-stream's negotiation (PROTOCOL.md §11.2): at each `/` of the Accept value, the first subtype
 * the following text starts with wins; nothing → JSON. No q-values, no `format` argument.
 */
export function statsFormat(accept: string | undefined): StatsFormat {
  if (!accept) return DEFAULT_FORMAT;
  for (let at = accept.indexOf("/"); at >= 0; at = accept.indexOf("/", at + 1)) {
    for (const [subtype, format] of SUBTYPES) {
      if (accept.startsWith(subtype, at + 1)) return format;
    }
  }
  return DEFAULT_FORMAT;
}
