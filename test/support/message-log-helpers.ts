import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readdirSync, writeFileSync } from "node:fs";
import type { Agent } from "node:http";
import { join } from "node:path";
import { EPOCH, request, type Reply, type RawConfig } from "./helpers.js";
import { BUNDLE, launch, type Launched } from "./launch.js";

/**
 * The message log seen from outside: a real pushwire process on a log directory, publishes over
 * HTTP, what a channel stores read back through a polling subscriber whose template carries the
 * id and the (time, tag) stamp, and the log's files read as records (u32 length, u32 CRC, payload).
 */

/** Every subscriber answer lists each message as one `id|time|tag|text` line (bodies carry no `|` or newline). */
export const STAMP_TEMPLATE = "~id~|~time~|~tag~|~text~\n";

export interface LogLayoutOptions {
  /** The log directory; none: memory only. */
  dir?: string;
  fsync?: "always" | "batch" | "off";
  /** Segment size ("64m" by default). */
  segmentSize?: string;
  /** Top-level keys (messageTtl…). */
  http?: RawConfig;
}

/**
 * One server on an ephemeral port: /poll (polling) and /lp (long-polling, 3 s hold) with the
 * stamp template, /pub an admin publisher that stores messages, /pub-unstored one that does not.
 */
export function logLayout(options: LogLayoutOptions = {}): RawConfig {
  return {
    ...options.http,
    ...(options.dir ? { messageLog: { path: options.dir, fsync: options.fsync ?? "batch", ...(options.segmentSize ? { segmentSize: options.segmentSize } : {}) } } : {}),
    servers: [{
      listen: "127.0.0.1:0",
      locations: [
        { path: "/poll", subscriber: "polling", channelsPath: "$arg_id", messageTemplate: STAMP_TEMPLATE },
        { path: "/lp", subscriber: "long-polling", channelsPath: "$arg_id", longpollingConnectionTtl: "3s", messageTemplate: STAMP_TEMPLATE },
        { path: "/pub", publisher: "admin", channelsPath: "$arg_id", storeMessages: true },
        { path: "/pub-unstored", publisher: "admin", channelsPath: "$arg_id", storeMessages: false },
      ],
    }],
  };
}

export function writeConfig(dir: string, name: string, raw: RawConfig): string {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify(raw));
  return file;
}

/** A started pushwire whose start-up summary of the message log has been printed. */
export interface LogServer extends Launched {
  port: number;
  /** The `message log: …` info line. */
  logLine: string;
}

/** Starts dist/pushwire.js with `--config file` (through `command`, e.g. a shell setting a ulimit) and waits for its message-log line. */
export async function startServer(file: string, command?: string[]): Promise<LogServer> {
  const app = await launch(["--config", file], command);
  try {
    const [line] = await app.waitFor(/info message log: .*$/m);
    return { ...app, port: app.ports[0]!, logLine: line };
  } catch (error) {
    app.child.kill("SIGKILL");
    throw error;
  }
}

/** `restored N channel(s) and M message(s)` of the start-up line. */
export function restoredCounts(line: string): { channels: number; messages: number } {
  const m = /restored (\d+) channel\(s\) and (\d+) message\(s\)/.exec(line);
  assert.ok(m, `a restored summary in ${JSON.stringify(line)}`);
  return { channels: Number(m[1]), messages: Number(m[2]) };
}

/** SIGKILL, and wait until the process is gone. */
export async function killHard(app: Launched): Promise<void> {
  if (app.child.exitCode === null && app.child.signalCode === null) app.child.kill("SIGKILL");
  await app.exited;
}

/** One stored message as the stamp template shows it. */
export interface Stored {
  id: number;
  /** Seconds since the epoch (the template's HTTP date). */
  time: number;
  tag: number;
  text: string;
}

export function parseStored(text: string): Stored[] {
  return text.split("\n").filter((line) => line !== "").map((line) => {
    const [id, time, tag, body] = line.split("|");
    const seconds = Date.parse(time!) / 1000;
    assert.ok(Number.isFinite(seconds) && body !== undefined, `a stamp-template line: ${JSON.stringify(line)}`);
    return { id: Number(id), time: seconds, tag: Number(tag), text: body };
  });
}

/** Everything `channel` stores, oldest first, through the polling location (304 for none: []). */
export async function readChannel(port: number, channel: string, agent?: Agent): Promise<Stored[]> {
  const reply = await request(port, `/poll?id=${channel}`, { headers: { "If-Modified-Since": EPOCH, "If-None-Match": "0" }, agent });
  if (reply.status === 304) return [];
  assert.equal(reply.status, 200, `poll ${channel}`);
  return parseStored(reply.text);
}

/** POST `body` to the publisher. */
export function publishTo(port: number, channel: string, body: string, options: { agent?: Agent; headers?: Record<string, string> } = {}): Promise<Reply> {
  return request(port, `/pub?id=${channel}`, { method: "POST", body, agent: options.agent, headers: options.headers });
}

/** The publisher's channel info, or undefined for 404. */
export interface ChannelInfo {
  channel: string;
  published_messages: number;
  stored_messages: number;
  subscribers: number;
}

export async function channelInfo(port: number, channel: string): Promise<ChannelInfo | undefined> {
  const reply = await request(port, `/pub?id=${channel}`);
  if (reply.status === 404) return undefined;
  assert.equal(reply.status, 200, `channel info of ${channel}`);
  return JSON.parse(reply.text) as ChannelInfo;
}

/** Orders (time, tag) stamps as a subscriber's cursor does. */
export function compareStamps(a: { time: number; tag: number }, b: { time: number; tag: number }): number {
  return a.time - b.time || a.tag - b.tag;
}

/** Asserts a channel's messages are ids 1..n in order and strictly rising stamps. */
export function assertContiguous(channel: string, messages: Stored[]): void {
  messages.forEach((message, i) => {
    assert.equal(message.id, i + 1, `${channel}: ids run 1..n without a gap or repeat (${messages.map((m) => m.id).join(",")})`);
    if (i > 0) assert.ok(compareStamps(messages[i - 1]!, message) < 0, `${channel}: stamps rise with the id at id ${message.id}`);
  });
}

/** The numbered segment files of a log directory, ascending. */
export function segmentFiles(dir: string): string[] {
  return readdirSync(dir).filter((name) => /^\d{8}\.seg$/.test(name)).sort();
}

/** Offsets where each whole record of a log file ends (u32 length + u32 CRC + payload each). */
export function recordEnds(bytes: Buffer): number[] {
  const ends: number[] = [];
  let at = 0;
  while (at + 8 <= bytes.length) {
    const end = at + 8 + bytes.readUInt32LE(at);
    if (end > bytes.length) break;
    ends.push(end);
    at = end;
  }
  assert.equal(at, bytes.length, "the log file is whole records");
  return ends;
}

/** Runs pushwire to its exit (a start that must fail): the exit code and the output. */
export function runToExit(args: string[], ms = 10_000): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BUNDLE, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (c: Buffer) => (output += c.toString()));
    child.stderr.on("data", (c: Buffer) => (output += c.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`pushwire still running after ${ms} ms:\n${output}`));
    }, ms);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/** Runs `work` over `items` with at most `parallel` at once. */
export async function inParallel<T>(items: T[], parallel: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < items.length) await work(items[next++]!);
  }));
}
