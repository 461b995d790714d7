import type { BodyFailure, ClientWatcher, Headers, PushReply, PushRequest, SharedAnswer, UpgradedSocket } from "../../src/http/exchange.js";

/**
 * A request and reply that never touch a socket: for unit tests of what sits above the
 * contract (request variables, the router, handlers' refusals). The wire itself is tested e2e.
 */
export class FakeRequest implements PushRequest {
  readonly versionMajor = 1;
  readonly versionMinor: number;
  readonly remoteAddress: string | undefined;
  readonly upgrade: boolean;
  private readonly headers: Map<string, string>;
  bodyReads = 0;

  constructor(
    readonly method: string,
    readonly url: string,
    headers: Record<string, string> = {},
    private readonly body: Buffer | BodyFailure = Buffer.alloc(0),
    options: { versionMinor?: number; remoteAddress?: string } = {},
  ) {
    this.headers = new Map(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
    this.versionMinor = options.versionMinor ?? 1;
    this.remoteAddress = options.remoteAddress ?? "127.0.0.1";
    this.upgrade = /upgrade/i.test(this.headers.get("connection") ?? "") && this.headers.has("upgrade");
  }

  header(name: string): string | undefined {
    return this.headers.get(name);
  }

  readBody(limit: number, done: (body: Buffer | BodyFailure) => void): void {
    this.bodyReads++;
    const body = this.body;
    done(typeof body !== "string" && body.length > limit ? "too-large" : body);
  }
}

/** A reply that records what the handler answered. */
export class FakeReply implements PushReply {
  readonly remoteAddress = "127.0.0.1";
  status = 0;
  headers: Headers = [];
  readonly body: Buffer[] = [];
  headersSent = false;
  done = false;
  backlog = 0;
  watcher: ClientWatcher | null = null;
  private readonly endListeners: ((status: number, answered: boolean) => void)[] = [];

  send(status: number, headers: Headers, body: readonly Buffer[] = []): void {
    this.start(status, headers);
    this.body.push(...body);
    this.end();
  }

  sendShared(answer: SharedAnswer): void {
    this.send(answer.status, answer.headers.slice(), answer.body);
  }

  start(status: number, headers: Headers): void {
    if (this.headersSent) throw new Error("answered twice");
    this.status = status;
    this.headers = headers;
    this.headersSent = true;
  }

  write(bytes: Buffer): void {
    this.body.push(bytes);
  }

  flush(): void {}

  end(): void {
    if (this.done) throw new Error("ended twice");
    this.done = true;
    for (const listener of this.endListeners) listener(this.status, true);
  }

  destroy(): void {
    if (this.done) return;
    this.done = true;
    for (const listener of this.endListeners) listener(this.status, false);
  }

  hold(watcher: ClientWatcher | null): void {
    this.watcher = watcher;
  }

  takeSocket(): UpgradedSocket | undefined {
    return undefined;
  }

  onEnd(listener: (status: number, answered: boolean) => void): void {
    this.endListeners.push(listener);
  }

  /** The client goes away while the reply is held. */
  leave(): void {
    const watcher = this.watcher;
    this.destroy();
    watcher?.abort();
  }

  /** A response header by name (case-insensitive), or undefined. */
  header(name: string): string | undefined {
    for (let i = 0; i < this.headers.length; i += 2) {
      if (this.headers[i]!.toLowerCase() === name.toLowerCase()) return this.headers[i + 1];
    }
    return undefined;
  }

  get text(): string {
    return Buffer.concat(this.body).toString();
  }
}
