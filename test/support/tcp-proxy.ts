import { connect, createServer, type AddressInfo, type Server, type Socket } from "node:net";

/**
 * A loopback TCP proxy in front of a server (a node's Redis), so a test can take the network
 * away from one client and not the others: `cut()` drops every connection and refuses new ones
 * until `restore()`; `stall()` keeps connections open but forwards nothing (a Redis that stopped
 * answering), `flow()` forwards again.
 */
export class TcpProxy {
  private readonly server: Server;
  private readonly pairs = new Set<[Socket, Socket]>();
  private refusing = false;
  private stalled = false;

  private constructor(private readonly targetPort: number) {
    this.server = createServer((client) => this.accept(client));
  }

  static async start(targetPort: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetPort);
    await new Promise<void>((resolve) => proxy.server.listen(0, "127.0.0.1", resolve));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  private accept(client: Socket): void {
    if (this.refusing) return void client.destroy();
    const upstream = connect(this.targetPort, "127.0.0.1");
    const pair: [Socket, Socket] = [client, upstream];
    this.pairs.add(pair);
    const forward = (from: Socket, to: Socket): void => {
      from.on("data", (chunk: Buffer) => {
        if (!this.stalled) to.write(chunk);
      });
    };
    forward(client, upstream);
    forward(upstream, client);
    const end = (): void => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
  }

  cut(): void {
    this.refusing = true;
    for (const [client, upstream] of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    this.pairs.clear();
  }

  restore(): void {
    this.refusing = false;
  }

  /** Bytes sent meanwhile are dropped: the connection is as good as dead, but nobody closes it. */
  stall(): void {
    this.stalled = true;
  }

  flow(): void {
    this.stalled = false;
  }

  close(): Promise<void> {
    this.cut();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
