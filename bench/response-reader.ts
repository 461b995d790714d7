/**
 * Splits the bytes of one client socket into HTTP/1.x responses: status, header block, body.
 * Enough for the bench's own clients (Content-Length, chunked, bodiless 1xx/204/304); not a
 * general parser. Text is kept as latin1 so byte counts equal string lengths.
 */
export interface RawResponse {
  status: number;
  /** The header block, lines joined by CRLF (without the status line). */
  head: string;
  body: string;
}

export class ResponseReader {
  private pending = "";

  /** Adds received bytes; returns every response completed by them, in order. */
  push(chunk: Buffer): RawResponse[] {
    this.pending += chunk.toString("latin1");
    const done: RawResponse[] = [];
    for (let guard = 0; guard < 100_000; guard++) {
      const response = this.takeOne();
      if (!response) break;
      done.push(response);
    }
    return done;
  }

  private takeOne(): RawResponse | null {
    const end = this.pending.indexOf("\r\n\r\n");
    if (end < 0) return null;
    const firstLineEnd = this.pending.indexOf("\r\n");
    const status = Number(this.pending.slice(9, 12));
    const head = this.pending.slice(firstLineEnd + 2, end);
    const bodyStart = end + 4;
    if (status === 304 || status === 204 || (status >= 100 && status < 200)) {
      this.pending = this.pending.slice(bodyStart);
      return { status, head, body: "" };
    }
    const length = headerValue(head, "content-length");
    if (length !== undefined) {
      const bodyEnd = bodyStart + Number(length);
      if (this.pending.length < bodyEnd) return null;
      const body = this.pending.slice(bodyStart, bodyEnd);
      this.pending = this.pending.slice(bodyEnd);
      return { status, head, body };
    }
    if (/^transfer-encoding:\s*chunked/im.test(head)) return this.takeChunked(status, head, bodyStart);
    // No framing: the body runs to the close; the bench's servers never do this for its requests.
    return null;
  }

  private takeChunked(status: number, head: string, bodyStart: number): RawResponse | null {
    let at = bodyStart;
    let body = "";
    for (;;) {
      const lineEnd = this.pending.indexOf("\r\n", at);
      if (lineEnd < 0) return null;
      const size = parseInt(this.pending.slice(at, lineEnd), 16);
      if (Number.isNaN(size)) throw new Error("bad chunk size");
      const dataEnd = lineEnd + 2 + size;
      if (this.pending.length < dataEnd + 2) return null;
      if (size === 0) {
        const trailerEnd = this.pending.indexOf("\r\n", lineEnd + 2);
        if (trailerEnd < 0) return null;
        this.pending = this.pending.slice(trailerEnd + 2);
        return { status, head, body };
      }
      body += this.pending.slice(lineEnd + 2, dataEnd);
      at = dataEnd + 2;
    }
  }
}

/** A header's value from a header block (case-insensitive name), or undefined. */
export function headerValue(head: string, name: string): string | undefined {
  const match = new RegExp(`^${name}:[ \\t]*(.*)$`, "im").exec(head);
  return match ? match[1]!.trim() : undefined;
}
