import { createServer, type Server, type Socket } from "node:net";
import type { Clock } from "../core/clock.js";
import { Refusal } from "../core/refusal.js";
import type { Logger } from "../log.js";
import type { OpenedChannels } from "../persist/open-channels.js";
import type { Channel, ChannelSubscriber } from "../store/channel.js";
import type { StoreObserver } from "../store/observer.js";
import { messageLogReading } from "../observe/readings.js";
import { FrameStream } from "./frame-stream.js";
import { FrameBuffer, FrameType, PRIMARY_REPORT, type FrameReader } from "./frames.js";

/**
 * Bytes the primary may have queued for one worker that does not read: beyond it the worker's
 * link is cut (it stops and is restarted with a fresh snapshot) rather than the primary's memory
 * growing without bound.
 */
export const WORKER_BACKLOG_LIMIT = 256 * 1024 * 1024;

/** How often the workers hear how many subscribers the others hold on the channels that changed. */
const COUNTS_EVERY_MS = 100;
/** How often the primary tells the workers its message log's figures (their /metrics). */
const LOG_REPORT_EVERY_MS = 1000;

/**
 * One worker as the primary sees it: its socket, and a stand-in subscriber on each channel where
 * it holds subscribers, so the primary's sweep keeps channels some worker listens on.
 */
class WorkerPeer implements ChannelSubscriber {
  worker = -1;
  /** Its last readings (JSON), relayed to the other workers. */
  report = "";
  /** Subscribers this worker holds, by channel id (only channels with some). */
  readonly counts = new Map<string, number>();
  readonly stream: FrameStream;

  constructor(readonly socket: Socket, onFrame: (peer: WorkerPeer, frame: FrameReader) => void, onCorrupt: (peer: WorkerPeer) => void) {
    this.stream = new FrameStream((frame) => onFrame(this, frame), () => onCorrupt(this));
  }

  onMessage(): void {
    // The stream carries every message to every worker; nothing to do per channel.
  }

  onChannelDeleted(channel: Channel): void {
    channel.subscribers.delete(this);
    this.counts.delete(channel.id);
  }
}

interface Acknowledgement {
  peer: WorkerPeer;
  request: number;
}

/**
 * The primary of a machine's workers: the one store that sequences every publish (id, time, tag,
 * mid: one order for every worker), writes the message log once, and streams every change to
 * each worker's copy. A worker that connects gets a snapshot of every channel first. It holds no
 * client connections.
 */
export class Primary implements StoreObserver {
  private readonly server: Server;
  /** Workers that have their snapshot and get the live stream. */
  private readonly peers = new Set<WorkerPeer>();
  private readonly out = new FrameBuffer();
  private readonly acks = new FrameBuffer(256);
  /** Channels whose subscriber counts some worker changed since the workers were last told. */
  private readonly countsChanged = new Set<string>();
  private readonly counter: NodeJS.Timeout;
  private readonly logReporter: NodeJS.Timeout | undefined;
  /** The primary's last report of its message log (JSON), for a worker's snapshot. */
  private logReport = "";
  /** The last of the primary's own events (channel created, destroyed) streamed to the workers. */
  private eventsStreamed = 0;
  private readonly streamEventsSoon = (): void => this.streamEvents();

  constructor(
    readonly channels: OpenedChannels,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {
    channels.store.observers.push(this);
    // An asynchronous broker (Redis) hands over messages after `publish` returned: they are streamed as they come.
    channels.broker.listener = {
      accepted: (message, stored) => {
        this.out.message(message, stored);
        this.broadcast();
      },
      deleted: (channel, text) => {
        this.out.deleted(channel, text);
        this.broadcast();
      },
    };
    this.server = createServer((socket) => this.connected(socket));
    this.counter = setInterval(() => this.tellCounts(), COUNTS_EVERY_MS);
    this.counter.unref();
    if (channels.messageLog) {
      this.reportLog();
      this.logReporter = setInterval(() => this.reportLog(), LOG_REPORT_EVERY_MS);
      this.logReporter.unref();
    }
  }

  /** The message log's figures to every worker (the primary has no listener: the workers' /metrics show them). */
  private reportLog(): void {
    const log = this.channels.messageLog;
    if (!log) return;
    this.logReport = JSON.stringify(messageLogReading(log));
    this.acks.report(PRIMARY_REPORT, this.logReport);
    const bytes = this.acks.take();
    for (const peer of this.peers) this.write(peer, bytes);
  }

  /** Workers connected now. */
  get workerCount(): number {
    return this.peers.size;
  }

  listen(path: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(path, () => {
        this.server.off("error", reject);
        resolve();
      });
    });
  }

  close(): void {
    clearInterval(this.counter);
    clearInterval(this.logReporter);
    this.server.close();
    for (const peer of this.peers) peer.socket.destroy();
    this.channels.broker.close?.();
    this.channels.messageLog?.close();
  }

  /** A channel swept here (empty, idle, no worker holds subscribers on it) leaves every worker's copy too. */
  channelDestroyed(channel: Channel): void {
    queueMicrotask(this.streamEventsSoon); // the events channel hears of it after this observer
    if (channel.deleted) return; // a deletion is streamed with its text
    this.out.drop(channel.id);
    this.broadcast();
  }

  /**
   * The events the primary's EventsChannel published since the last call (channel_created and
   * channel_destroyed happen here, where channels are created and swept), streamed to the workers
   * like any stored message. The workers' own EventsChannel reports only their subscriptions.
   */
  private streamEvents(): void {
    const channel = this.channels.events?.channel;
    if (!channel || channel.lastMessageId === this.eventsStreamed) return;
    const messages = this.channels.history.read(channel);
    let first = messages.length; // the new events are the last ones: no walk over the whole ring
    while (first > 0 && messages.at(first - 1)!.id > this.eventsStreamed) first--;
    for (let i = first; i < messages.length; i++) this.out.message(messages.at(i)!, true);
    this.eventsStreamed = channel.lastMessageId;
    this.broadcast();
  }

  private connected(socket: Socket): void {
    socket.setNoDelay(true);
    const peer = new WorkerPeer(socket, (p, frame) => this.received(p, frame), (p) => {
      this.log.error(`workers: worker ${p.worker}'s stream is damaged; cutting its link`);
      socket.destroy();
    });
    socket.on("data", (chunk: Buffer) => {
      // Everything one chunk of requests causes (messages, acks) leaves in one write per worker.
      for (const other of this.peers) other.socket.cork();
      try {
        peer.stream.push(chunk);
      } finally {
        for (const other of this.peers) other.socket.uncork();
      }
    });
    socket.on("error", () => undefined); // a worker that exits resets its socket; "close" follows
    socket.on("close", () => this.disconnected(peer));
  }

  private disconnected(peer: WorkerPeer): void {
    if (!this.peers.delete(peer)) return;
    peer.report = "";
    this.relayReport(peer);
    const { store } = this.channels;
    for (const id of peer.counts.keys()) {
      store.find(id)?.subscribers.delete(peer);
      this.countsChanged.add(id);
    }
    peer.counts.clear();
  }

  private received(peer: WorkerPeer, frame: FrameReader): void {
    try {
      switch (frame.type) {
        case FrameType.hello:
          peer.worker = frame.number;
          this.sendSnapshot(peer);
          return;
        case FrameType.publish:
          return this.publish(peer, frame);
        case FrameType.remove:
          return this.remove(peer, frame);
        case FrameType.subscribers:
          return this.subscribers(peer, frame.text, frame.number);
        case FrameType.report:
          peer.report = frame.text;
          return this.relayReport(peer);
      }
    } catch (error) {
      this.log.error(`workers: a request of worker ${peer.worker}: ${(error as Error).stack ?? error}`);
    }
  }

  /** Every channel with its last id and stored messages, then `ready`; the live stream follows on the same socket. */
  private sendSnapshot(peer: WorkerPeer): void {
    const { store, history } = this.channels;
    const snapshot = new FrameBuffer();
    for (const channel of store.all()) {
      snapshot.channel(channel.id, channel.lastMessageId);
      const messages = history.read(channel);
      for (let i = 0; i < messages.length; i++) snapshot.message(messages.at(i)!);
      const others = this.subscribersBesides(channel.id, peer);
      if (others > 0) snapshot.subscribers(channel.id, others);
    }
    for (const other of this.peers) if (other.report) snapshot.report(other.worker, other.report);
    if (this.logReport) snapshot.report(PRIMARY_REPORT, this.logReport);
    snapshot.ready();
    peer.socket.write(snapshot.take());
    this.peers.add(peer);
  }

  private publish(peer: WorkerPeer, frame: FrameReader): void {
    const { store, broker } = this.channels;
    const refused = broker.unavailable;
    if (refused) return this.acknowledge({ peer, request: frame.request }, refused);
    const channels: Channel[] = [];
    for (const id of frame.channels) {
      const channel = store.obtain(id);
      if (channel instanceof Refusal) return this.acknowledge({ peer, request: frame.request }, channel);
      channels.push(channel);
    }
    this.streamEvents();
    const { options } = frame;
    const messages = broker.publish(channels, frame.body, options); // the stand-ins do not throw
    for (const message of messages) this.out.message(message, options.store);
    // A worker's own event (client_subscribed) was streamed just now, with the rest of this publish.
    const events = this.channels.events?.channel;
    if (events) this.eventsStreamed = events.lastMessageId;
    this.broadcast();
    broker.whenDurable(this.acknowledge, { peer, request: frame.request });
  }

  private remove(peer: WorkerPeer, frame: FrameReader): void {
    const channel = this.channels.store.find(frame.text);
    if (channel && !channel.deleted) {
      this.channels.broker.delete(channel, frame.deletedText);
      // Deleted now (in-process broker); an asynchronous one tells its listener when it happens.
      if (channel.deleted) {
        this.out.deleted(channel.id, frame.deletedText);
        this.broadcast();
      }
    }
    this.channels.broker.whenDurable(this.acknowledge, { peer, request: frame.request });
  }

  private subscribers(peer: WorkerPeer, id: string, count: number): void {
    const { store } = this.channels;
    const channel = count > 0 ? store.obtain(id) : store.find(id);
    this.streamEvents();
    if (!channel || channel instanceof Refusal) return;
    const before = peer.counts.get(id) ?? 0;
    if (count !== before) this.countsChanged.add(id);
    if (count > 0) {
      peer.counts.set(id, count);
      channel.subscribers.add(peer);
      if (count > before) channel.lastActivity = this.clock.now();
    } else {
      peer.counts.delete(id);
      channel.subscribers.delete(peer);
    }
  }

  /** A worker's readings to every other worker (an empty report: it is gone). */
  private relayReport(from: WorkerPeer): void {
    this.acks.report(from.worker, from.report);
    const bytes = this.acks.take();
    for (const peer of this.peers) if (peer !== from) this.write(peer, bytes);
  }

  /** Subscribers on `id` held by every worker but `peer`. */
  private subscribersBesides(id: string, peer: WorkerPeer): number {
    let others = 0;
    for (const other of this.peers) if (other !== peer) others += other.counts.get(id) ?? 0;
    return others;
  }

  /** Tells each worker, for every channel whose counts changed, how many subscribers the other workers hold there. */
  private tellCounts(): void {
    if (this.countsChanged.size === 0) return;
    for (const peer of this.peers) {
      for (const id of this.countsChanged) this.acks.subscribers(id, this.subscribersBesides(id, peer));
      this.write(peer, this.acks.take());
    }
    this.countsChanged.clear();
  }

  private readonly acknowledge = (ack: Acknowledgement, failure: Refusal | undefined): void => {
    const { peer } = ack;
    if (peer.socket.destroyed) return;
    this.acks.ack(ack.request, failure);
    this.write(peer, this.acks.take());
  };

  private broadcast(): void {
    if (this.out.length === 0) return;
    const bytes = this.out.take();
    for (const peer of this.peers) this.write(peer, bytes);
  }

  private write(peer: WorkerPeer, bytes: Buffer): void {
    const { socket } = peer;
    if (socket.writableLength > WORKER_BACKLOG_LIMIT) {
      this.log.error(`workers: worker ${peer.worker} does not read its stream (${socket.writableLength} bytes queued); cutting its link`);
      socket.destroy();
      return;
    }
    socket.write(bytes);
  }
}
