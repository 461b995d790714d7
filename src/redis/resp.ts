/**
 * RESP2, the protocol Redis speaks (https://redis.io/docs/latest/develop/reference/protocol-spec/):
 * commands go out as arrays of bulk strings; replies come back as simple strings, errors,
 * integers, bulk strings (null: absent) and arrays of replies (null: absent), which a pub/sub
 * connection also receives unasked. Pure: bytes in, replies out.
 */

/** An error reply ("-ERR …", "-WRONGTYPE …", "-NOSCRIPT …"): a value, not a thrown failure of the connection. */
export class RespError {
  constructor(readonly message: string) {}

  /** The first word: ERR, WRONGTYPE, NOSCRIPT, READONLY, LOADING … */
  get code(): string {
    const space = this.message.indexOf(" ");
    return space < 0 ? this.message : this.message.slice(0, space);
  }
}

export type RespReply = string | number | Buffer | null | RespError | RespReply[];

/** A command as Redis wants it: `*N` then each argument as a bulk string. */
export function encodeCommand(args: ReadonlyArray<string | Buffer | number>): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`, "latin1")];
  for (const arg of args) {
    const bytes = typeof arg === "string" ? Buffer.from(arg, "utf8") : typeof arg === "number" ? Buffer.from(String(arg), "latin1") : arg;
    parts.push(Buffer.from(`$${bytes.length}\r\n`, "latin1"), bytes, CRLF);
  }
  return Buffer.concat(parts);
}

const CRLF = Buffer.from("\r\n", "latin1");
/** A bulk string or array longer than this is a broken stream, not a reply (Redis's proto-max-bulk-len is 512 MB). */
const MAX_LENGTH = 512 * 1024 * 1024;
/** Nesting deeper than this is a broken stream (Redis nests a few levels at most). */
const MAX_DEPTH = 32;

/** The stream is not RESP: the connection must be dropped. */
export class RespProtocolError extends Error {}

/** Marks "not enough bytes yet" inside the parser. */
const INCOMPLETE = Symbol("incomplete");
/** Marks an array header whose items follow. */
const ARRAY_OPENED = Symbol("array opened");

/** An array whose items are still arriving. */
interface OpenArray {
  items: RespReply[];
  remaining: number;
}

/**
 * Turns the bytes of a connection into replies, whatever the chunking: `push` a chunk, get every
 * reply it completes. Throws RespProtocolError on bytes that are not RESP.
 *
 * Linear in the bytes however a reply is cut: an array's finished items are kept (never parsed
 * twice), and while a long bulk string arrives its chunks are only collected until it is whole
 * (a catch-up reply of many megabytes arrives in hundreds of chunks).
 */
export class RespParser {
  private buffer: Buffer = Buffer.alloc(0);
  private offset = 0;
  private readonly open: OpenArray[] = [];
  /** Chunks held back until `needed` bytes (counted from the buffer's start) are there. */
  private parts: Buffer[] = [];
  private held = 0;
  private needed = 0;

  push(chunk: Buffer): RespReply[] {
    if (this.parts.length > 0 || this.held + chunk.length < this.needed) {
      if (this.parts.length === 0) this.parts.push(this.buffer);
      this.parts.push(Buffer.from(chunk)); // a copy: the caller may reuse its chunk
      this.held += chunk.length;
      if (this.held < this.needed) return [];
      this.buffer = Buffer.concat(this.parts);
      this.parts = [];
    } else {
      this.buffer = this.offset < this.buffer.length ? Buffer.concat([this.buffer.subarray(this.offset), chunk]) : chunk;
    }
    this.offset = 0;
    this.needed = 0;
    const replies: RespReply[] = [];
    for (;;) {
      const start = this.offset;
      let value = this.element();
      if (value === INCOMPLETE) {
        // Keep the unfinished element's bytes as a copy: the caller may reuse its chunk.
        this.buffer = Buffer.from(this.buffer.subarray(start));
        this.needed = Math.max(this.needed - start, this.buffer.length + 1);
        this.held = this.buffer.length;
        this.offset = 0;
        return replies;
      }
      if (value === ARRAY_OPENED) {
        if (this.open.length > MAX_DEPTH) throw new RespProtocolError("replies nested too deep");
      } else {
        // A finished value completes its array, which may complete the one around it…
        let done: RespReply | undefined = value;
        while (done !== undefined && this.open.length > 0) {
          const top = this.open[this.open.length - 1]!;
          top.items.push(done);
          done = --top.remaining === 0 ? this.open.pop()!.items : undefined;
        }
        if (done !== undefined) replies.push(done);
      }
      if (this.offset === this.buffer.length) {
        this.buffer = Buffer.alloc(0);
        this.offset = 0;
        this.held = 0;
        return replies;
      }
    }
  }

  /** One value, or an array header (its items are the next elements). */
  private element(): RespReply | typeof INCOMPLETE | typeof ARRAY_OPENED {
    const line = this.line();
    if (line === INCOMPLETE) return INCOMPLETE;
    const type = line.charCodeAt(0);
    const rest = line.slice(1);
    switch (type) {
      case 0x2b: // +
        return rest;
      case 0x2d: // -
        return new RespError(rest);
      case 0x3a: // :
        return this.integer(rest);
      case 0x24: { // $
        const length = this.length(rest);
        if (length < 0) return null;
        if (this.buffer.length - this.offset < length + 2) {
          this.needed = this.offset + length + 2;
          return INCOMPLETE;
        }
        const bulk = Buffer.from(this.buffer.subarray(this.offset, this.offset + length)); // a copy: the buffer is reused
        this.offset += length + 2;
        return bulk;
      }
      case 0x2a: { // *
        const length = this.length(rest);
        if (length < 0) return null;
        if (length === 0) return [];
        this.open.push({ items: [], remaining: length });
        return ARRAY_OPENED;
      }
      default:
        throw new RespProtocolError(`unexpected reply type ${JSON.stringify(String.fromCharCode(type))}`);
    }
  }

  /** The next line without its CRLF (latin1), advancing past it; INCOMPLETE without a CRLF yet. */
  private line(): string | typeof INCOMPLETE {
    const end = this.buffer.indexOf(CRLF, this.offset);
    if (end < 0) {
      if (this.buffer.length - this.offset > 64 * 1024) throw new RespProtocolError("a reply line longer than 64 KiB");
      return INCOMPLETE;
    }
    const line = this.buffer.toString("latin1", this.offset, end);
    this.offset = end + 2;
    if (line.length === 0) throw new RespProtocolError("an empty reply line");
    return line;
  }

  private integer(text: string): number {
    if (!/^-?\d+$/.test(text)) throw new RespProtocolError(`not an integer: ${JSON.stringify(text)}`);
    return Number(text);
  }

  private length(text: string): number {
    const length = this.integer(text);
    if (length < -1 || length > MAX_LENGTH) throw new RespProtocolError(`bad length ${length}`);
    return length;
  }
}
