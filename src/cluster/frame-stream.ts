import { RECORD_HEADER_BYTES } from "../persist/record.js";
import { FrameReader } from "./frames.js";

/**
 * Cuts a socket's chunks into frames: every whole frame is handed to `onFrame` (the reader is
 * positioned on it); a frame cut by a chunk's end waits, its pieces kept apart until the frame is
 * whole, so a large body is copied once, not once per chunk.
 */
export class FrameStream {
  readonly reader = new FrameReader();
  private pieces: Buffer[] = [];
  private pieceBytes = 0;
  /** Bytes the frame at the head of `pieces` needs, once its header is known. */
  private needed = 0;

  constructor(
    private readonly onFrame: (reader: FrameReader) => void,
    /** A frame failed its checksum or could not be read: the link is broken. */
    private readonly onCorrupt: () => void,
  ) {}

  push(chunk: Buffer): void {
    if (this.pieces.length > 0) {
      this.pieces.push(chunk);
      this.pieceBytes += chunk.length;
      if (this.needed === 0 && this.pieceBytes >= RECORD_HEADER_BYTES) this.needed = frameSize(Buffer.concat(this.pieces));
      if (this.needed === 0 || this.pieceBytes < this.needed) return;
      chunk = Buffer.concat(this.pieces, this.pieceBytes);
      this.pieces = [];
      this.pieceBytes = 0;
      this.needed = 0;
    }
    const reader = this.reader;
    reader.reset(chunk);
    for (;;) {
      const result = reader.next();
      if (result === "record") {
        this.onFrame(reader);
        continue;
      }
      if (result === "corrupt") return this.onCorrupt();
      break; // "end", or "torn": the rest is still coming
    }
    if (reader.offset < chunk.length) {
      const rest = chunk.subarray(reader.offset);
      this.pieces.push(rest);
      this.pieceBytes = rest.length;
      this.needed = rest.length >= RECORD_HEADER_BYTES ? frameSize(rest) : 0;
    }
  }
}

function frameSize(head: Buffer): number {
  return RECORD_HEADER_BYTES + head.readUInt32LE(0);
}
