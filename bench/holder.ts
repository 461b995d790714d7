/**
 * Idle-subscriber holder: a child process (forked by holders.ts) that opens many raw long-poll
 * sockets to a server on loopback, spread over 127.0.0.x source addresses, and reports over IPC
 * when each first receives bytes (fan-out) or, in follow mode, the publish→receive latency of
 * every message, re-polling with the cursor the server returned (Last-Modified/Etag).
 *
 * Times are process.hrtime (CLOCK_MONOTONIC), comparable between processes on one machine.
 * Bounded: at most MAX_SOCKETS sockets, every wait has a deadline, exits when the parent goes.
 */
import { connect, type Socket } from "node:net";
import { headerValue, ResponseReader } from "./response-reader.js";

export type HolderCommand =
  | { op: "open"; port: number; path: string; from: number; count: number }
  | { op: "arm" }
  | { op: "follow" }
  | { op: "report" }
  | { op: "close" };

export interface HolderReport {
  op: "report";
  sockets: number;
  /** Sockets that got a 200 since the last arm. */
  delivered: number;
  /** Anything else: other statuses, errors, closes by the server. */
  failed: number;
  firstNs: number;
  lastNs: number;
  /** Follow mode: publish→receive latency of each message, in nanoseconds. */
  latenciesNs: number[];
}

const MAX_SOCKETS = 19_500;
const CONNECTS_IN_FLIGHT = 100;
const OPEN_DEADLINE_MS = 60_000;
const MAX_LATENCY_SAMPLES = 200_000;
/** Source addresses 127.0.0.2 … 127.0.0.201: ephemeral ports are per source address. */
const SOURCE_ADDRESSES = 200;

interface Hold {
  socket: Socket;
  path: string;
  source: number;
  reader: ResponseReader | null;
  deliveredAt: number;
  lastModified: string | undefined;
  etag: string | undefined;
}

const holds: Hold[] = [];
let armed = false;
let following = false;
let delivered = 0;
let failed = 0;
let firstNs = 0;
let lastNs = 0;
let latencies: number[] = [];
let port = 0;

const now = (): number => Number(process.hrtime.bigint());

function request(hold: Hold): string {
  let text = `GET ${hold.path} HTTP/1.1\r\nHost: bench\r\n`;
  if (hold.lastModified) text += `If-Modified-Since: ${hold.lastModified}\r\n`;
  if (hold.etag) text += `If-None-Match: ${hold.etag}\r\n`;
  return text + "\r\n";
}

function onData(this: Socket, chunk: Buffer): void {
  const hold = (this as Socket & { hold: Hold }).hold;
  const at = now();
  if (following) return onFollowData(hold, chunk, at);
  if (!armed || hold.deliveredAt) return;
  hold.deliveredAt = at;
  if (chunk.toString("latin1", 0, 12) === "HTTP/1.1 200") {
    delivered++;
    if (!firstNs || at < firstNs) firstNs = at;
    if (at > lastNs) lastNs = at;
  } else {
    failed++;
  }
}

function onFollowData(hold: Hold, chunk: Buffer, at: number): void {
  hold.reader ??= new ResponseReader();
  for (const response of hold.reader.push(chunk)) {
    if (response.status === 200) {
      for (const match of response.body.matchAll(/"t":(\d+)/g)) {
        if (latencies.length < MAX_LATENCY_SAMPLES) latencies.push(at - Number(match[1]));
      }
      hold.lastModified = headerValue(response.head, "last-modified") ?? hold.lastModified;
      hold.etag = headerValue(response.head, "etag") ?? hold.etag;
    } else if (response.status !== 304) {
      failed++;
    }
    if (!hold.socket.destroyed) hold.socket.write(request(hold));
  }
}

function onClose(this: Socket): void {
  const hold = (this as Socket & { hold: Hold }).hold;
  if (hold.deliveredAt === CLOSED_BY_US) return;
  if (!hold.deliveredAt) failed++;
  // Follow mode: a server that closes after a response gets a new connection, like a browser.
  if (following) openOne(hold.path, hold.source, holds.indexOf(hold), () => {});
}

/** deliveredAt of a socket this process closed itself. */
const CLOSED_BY_US = -1;

/** Opens one long-poll from source address number `source`; it replaces holds[slot] when slot is valid. */
function openOne(path: string, source: number, slot: number, done: (ok: boolean) => void): void {
  const socket = connect({ port, host: "127.0.0.1", localAddress: `127.0.0.${2 + (source % SOURCE_ADDRESSES)}` });
  const hold: Hold = { socket, path, source, reader: null, deliveredAt: 0, lastModified: undefined, etag: undefined };
  (socket as Socket & { hold: Hold }).hold = hold;
  if (slot >= 0 && slot < holds.length) holds[slot] = hold;
  else holds.push(hold);
  socket.once("connect", () => {
    socket.write(request(hold));
    done(true);
  });
  socket.on("data", onData);
  socket.on("close", onClose);
  socket.on("error", () => done(false));
}

function open(command: Extract<HolderCommand, { op: "open" }>): Promise<{ opened: number; failed: number }> {
  port = command.port;
  const count = Math.min(command.count, MAX_SOCKETS - holds.length);
  let started = 0;
  let opened = 0;
  let errors = 0;
  return new Promise((resolve) => {
    const deadline = setTimeout(() => resolve({ opened, failed: count - opened }), OPEN_DEADLINE_MS);
    const next = (): void => {
      if (opened + errors === count) {
        clearTimeout(deadline);
        resolve({ opened, failed: errors });
        return;
      }
      if (started >= count) return;
      const i = command.from + started++;
      let settled = false;
      openOne(command.path.replaceAll("{i}", String(i)), i, -1, (ok) => {
        if (settled) return;
        settled = true;
        if (ok) opened++;
        else errors++;
        next();
      });
    };
    for (let i = 0; i < Math.min(CONNECTS_IN_FLIGHT, count); i++) next();
    if (count === 0) next();
  });
}

function report(): HolderReport {
  const out = latencies;
  latencies = [];
  return { op: "report", sockets: holds.length, delivered, failed, firstNs, lastNs, latenciesNs: out };
}

process.on("message", (command: HolderCommand) => {
  switch (command.op) {
    case "open":
      void open(command).then((result) => process.send!({ op: "opened", ...result }));
      break;
    case "arm":
      armed = true;
      delivered = failed = firstNs = lastNs = 0;
      for (const hold of holds) hold.deliveredAt = 0;
      process.send!({ op: "armed" });
      break;
    case "follow":
      following = true;
      latencies = [];
      failed = 0;
      process.send!({ op: "following" });
      break;
    case "report":
      process.send!(report());
      break;
    case "close":
      armed = following = false;
      for (const hold of holds) {
        hold.deliveredAt = CLOSED_BY_US;
        hold.socket.destroy();
      }
      holds.length = 0;
      process.send!({ op: "closed" });
      break;
  }
});
process.on("disconnect", () => process.exit(0));
