/**
 * Idle-subscriber holder: a child process (forked by holders.ts) that opens many raw long-poll
 * (or WebSocket) sockets to a server on loopback, spread over 127.0.0.x source addresses, and reports
 * over IPC when each first receives bytes (fan-out) or, in follow mode (long-polls only), the
 * publish→receive latency of every message, re-polling with the cursor the server returned
 * (Last-Modified/Etag).
 *
 * A WebSocket here is the least a client can be: a handshake written by hand, then bytes counted.
 * No frame is parsed (the first byte of a delivery should be 0x81, a final text frame); no library,
 * so the client costs the same per socket whatever server it talks to.
 *
 * Times are process.hrtime (CLOCK_MONOTONIC), comparable between processes on one machine.
 * Bounded: at most MAX_SOCKETS sockets, every wait has a deadline, exits when the parent goes.
 */
import { randomBytes } from "node:crypto";
import { connect, type Socket } from "node:net";
import { headerValue, ResponseReader } from "./response-reader.js";

export type HolderCommand =
  | { op: "open"; port: number; path: string; from: number; count: number; websocket?: boolean }
  | { op: "arm" }
  | { op: "follow" }
  | { op: "report" }
  | { op: "close" };

export interface HolderReport {
  op: "report";
  sockets: number;
  /** WebSockets whose handshake was answered 101 (0 for long-polls). */
  upgraded: number;
  /** Sockets that got a 200 (a WebSocket: a text frame) since the last arm. */
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
/** A 101 answer longer than this is not one the bench expects: the socket counts as failed. */
const MAX_HANDSHAKE_BYTES = 4096;
/** First byte of a final, unfragmented text frame (FIN + opcode 1): how both servers send a message. */
const TEXT_FRAME = 0x81;

interface Hold {
  socket: Socket;
  path: string;
  source: number;
  reader: ResponseReader | null;
  deliveredAt: number;
  lastModified: string | undefined;
  etag: string | undefined;
  websocket: boolean;
  /** WebSocket only: the 101 head as it arrives, until its end; then null (upgraded). */
  handshake: string | null;
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
let upgraded = 0;

const now = (): number => Number(process.hrtime.bigint());

function request(hold: Hold): string {
  if (hold.websocket) return upgradeRequest(hold.path);
  let text = `GET ${hold.path} HTTP/1.1\r\nHost: bench\r\n`;
  if (hold.lastModified) text += `If-Modified-Since: ${hold.lastModified}\r\n`;
  if (hold.etag) text += `If-None-Match: ${hold.etag}\r\n`;
  return text + "\r\n";
}

/** A client's opening handshake (RFC 6455 §4.1), with a fresh random key as a browser sends. */
function upgradeRequest(path: string): string {
  return `GET ${path} HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`
    + `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
}

function onData(this: Socket, chunk: Buffer): void {
  const hold = (this as Socket & { hold: Hold }).hold;
  const at = now();
  if (hold.handshake !== null) {
    const rest = onHandshakeData(hold, chunk);
    if (!rest?.length) return;
    chunk = rest;
  }
  if (following && !hold.websocket) return onFollowData(hold, chunk, at);
  if (!armed || hold.deliveredAt) return;
  hold.deliveredAt = at;
  const ok = hold.websocket ? chunk[0] === TEXT_FRAME : chunk.toString("latin1", 0, 12) === "HTTP/1.1 200";
  if (ok) {
    delivered++;
    if (!firstNs || at < firstNs) firstNs = at;
    if (at > lastNs) lastNs = at;
  } else {
    failed++;
  }
}

/**
 * Collects a WebSocket's 101 head; gives the bytes after it (frames that came in the same read),
 * or undefined while the head is incomplete. Anything but a 101 ends the socket (counted by onClose).
 */
function onHandshakeData(hold: Hold, chunk: Buffer): Buffer | undefined {
  const head = hold.handshake + chunk.toString("latin1");
  const end = head.indexOf("\r\n\r\n");
  if (end < 0) {
    hold.handshake = head;
    if (head.length > MAX_HANDSHAKE_BYTES) hold.socket.destroy();
    return undefined;
  }
  if (!head.startsWith("HTTP/1.1 101")) {
    hold.socket.destroy();
    return undefined;
  }
  hold.handshake = null;
  upgraded++;
  return chunk.subarray(chunk.length - (head.length - end - 4));
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
  if (hold.websocket && hold.handshake === null) upgraded--;
  // Follow mode: a server that closes after a response gets a new connection, like a browser.
  if (following && !hold.websocket) openOne(hold.path, hold.source, false, holds.indexOf(hold), () => {});
}

/** deliveredAt of a socket this process closed itself. */
const CLOSED_BY_US = -1;

/** Opens one long-poll or WebSocket from source address number `source`; it replaces holds[slot] when slot is valid. */
function openOne(path: string, source: number, websocket: boolean, slot: number, done: (ok: boolean) => void): void {
  const socket = connect({ port, host: "127.0.0.1", localAddress: `127.0.0.${2 + (source % SOURCE_ADDRESSES)}` });
  const hold: Hold = { socket, path, source, reader: null, deliveredAt: 0, lastModified: undefined, etag: undefined, websocket, handshake: websocket ? "" : null };
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
      openOne(command.path.replaceAll("{i}", String(i)), i, command.websocket ?? false, -1, (ok) => {
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
  return { op: "report", sockets: holds.length, upgraded, delivered, failed, firstNs, lastNs, latenciesNs: out };
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
      upgraded = 0;
      process.send!({ op: "closed" });
      break;
  }
});
process.on("disconnect", () => process.exit(0));
