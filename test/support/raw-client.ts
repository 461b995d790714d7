import { connect, type Socket } from "node:net";
import { parseHead } from "./helpers.js";

/** A raw connection that collects everything the server sends, for exact-byte HTTP tests. */
export class RawClient {
  text = "";
  closed = false;
  /** When the last byte arrived (ms, Date.now()). */
  lastByteAt = 0;

  private constructor(readonly socket: Socket) {
    socket.on("data", (c: Buffer) => {
      this.text += c.toString("latin1");
      this.lastByteAt = Date.now();
    });
    socket.on("error", () => {});
    socket.on("close", () => (this.closed = true));
  }

  static open(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, "127.0.0.1", () => resolve(new RawClient(socket)));
      socket.once("error", reject);
    });
  }

  /** The status codes of the complete responses received so far (Content-Length bodies). */
  statuses(): number[] {
    return this.answers().map((answer) => answer.status);
  }

  /**
   * The complete final responses received so far (Content-Length or chunked bodies; a 100 Continue
   * is skipped): status, and whether it said `Connection: close`.
   */
  answers(): Array<{ status: number; close: boolean }> {
    const found: Array<{ status: number; close: boolean }> = [];
    let rest = this.text;
    while (rest.startsWith("HTTP/1.1 ")) {
      const end = rest.indexOf("\r\n\r\n");
      if (end < 0) break;
      const { status, headers } = parseHead(rest.slice(0, end + 4));
      const length = status < 200 ? 0 : headers.get("transfer-encoding") === "chunked" ? chunkedLength(rest, end + 4) : Number(headers.get("content-length") ?? NaN);
      if (!(end + 4 + length <= rest.length)) break;
      if (status >= 200) found.push({ status, close: headers.get("connection")?.toLowerCase() === "close" });
      rest = rest.slice(end + 4 + length);
    }
    return found;
  }

  /**
   * Waits until the server closed the connection, or `enough()` holds and then nothing more
   * arrived for `idleMs` (or `giveUpMs` passed); then the client hangs up.
   */
  async settle(idleMs: number, enough: () => boolean = () => true, giveUpMs = 5000): Promise<void> {
    const started = Date.now();
    this.lastByteAt = Math.max(this.lastByteAt, started);
    while (!this.closed && Date.now() - started < giveUpMs && !(enough() && Date.now() - this.lastByteAt >= idleMs)) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    this.socket.destroy();
  }
}

/** Bytes of the chunked body (no trailers) starting at `from`, or NaN while it is incomplete. */
function chunkedLength(text: string, from: number): number {
  let at = from;
  for (;;) {
    const eol = text.indexOf("\r\n", at);
    if (eol < 0) return NaN;
    const size = Number.parseInt(text.slice(at, eol), 16);
    at = eol + 2 + size + 2;
    if (at > text.length) return NaN;
    if (size === 0) return at - from;
  }
}
