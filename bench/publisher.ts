import { connect, type Socket } from "node:net";
import { ResponseReader } from "./response-reader.js";

/**
 * A publishing client for the bench: a few keep-alive sockets to the publisher location, requests
 * pipelined on them (both servers answer pipelined requests in order). Counts the answers.
 */
export class Publisher {
  private readonly sockets: Socket[] = [];
  private readonly readers: ResponseReader[] = [];
  private next = 0;
  sent = 0;
  answered = 0;
  /** Answers that were not 2xx (a publish that failed). */
  refused = 0;

  private constructor(private readonly port: number) {}

  static async open(port: number, connections: number): Promise<Publisher> {
    const publisher = new Publisher(port);
    for (let i = 0; i < connections; i++) await publisher.connectOne();
    return publisher;
  }

  private connectOne(): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = connect(this.port, "127.0.0.1", () => resolve());
      const reader = new ResponseReader();
      socket.setNoDelay(true);
      socket.once("error", reject);
      socket.on("data", (chunk) => {
        for (const response of reader.push(chunk)) {
          this.answered++;
          if (response.status < 200 || response.status > 299) this.refused++;
        }
      });
      this.sockets.push(socket);
      this.readers.push(reader);
    });
  }

  /** Sends one publish per channel (`body(i)` for the i-th), spread over the sockets, one write each. */
  publish(channels: string[], body: (i: number) => string): void {
    const batches: string[] = this.sockets.map(() => "");
    for (let i = 0; i < channels.length; i++) {
      const text = body(i);
      batches[this.next] += `POST /bitrix/pub/?CHANNEL_ID=${channels[i]} HTTP/1.1\r\nHost: bench\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`;
      this.next = (this.next + 1) % this.sockets.length;
    }
    batches.forEach((batch, k) => batch && this.sockets[k]!.write(batch, "latin1"));
    this.sent += channels.length;
  }

  /** Resolves when every publish sent so far is answered, or after the deadline. */
  async drained(deadlineMs: number): Promise<boolean> {
    const until = Date.now() + deadlineMs;
    while (this.answered < this.sent && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    return this.answered >= this.sent;
  }

  close(): void {
    for (const socket of this.sockets) socket.destroy();
  }
}

/** A 64-byte JSON body carrying the send time (process.hrtime ns) for the latency meter. */
export function timedBody(): string {
  const stamp = `{"t":${process.hrtime.bigint()},"p":"`;
  return stamp + "x".repeat(Math.max(0, 62 - stamp.length)) + '"}';
}
