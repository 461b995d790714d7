import type { Message, Push2Fields } from "../core/message.js";
import type { Refusal } from "../core/refusal.js";
import type { Channel } from "./channel.js";

/** How a message is published. */
export interface PublishOptions {
  eventId: string;
  eventType: string;
  /** Keep it in History for catch-up. */
  store: boolean;
  /** Per-message lifetime in seconds (Message-Expiry); capped by messageTtl. */
  ttl?: number | undefined;
  /** Published through Bitrix Push server 2.0: the message also gets a mid and these fields. */
  push2?: Pick<Push2Fields, "sender" | "expiry"> | undefined;
}

/**
 * The only way a message enters pushwire (modelled on centrifuge's broker): it sequences the
 * message — one place assigns id, time, tag, seq and the push2 mid — appends it to History when
 * it is stored, and hands it to the Hub of every process that has subscribers on the channel.
 * Channel deletion and the periodic sweep go through it too, as they change what History holds
 * and whom the Hub tells.
 *
 * The in-process broker (LocalBroker) has delivered to this process's hub before `publish`
 * returns. Callers that answer a publish (the publisher, Bitrix push2) answer through
 * `whenDurable`, which waits for History to keep what was published (the message log's fsync).
 */
export interface Broker {
  /**
   * Publishes `text` to each channel: one message per channel, in order, all with one mid when
   * `push2` is set. Returns them. A subscriber that throws is reported after every other got its message.
   */
  publish(channels: readonly Channel[], text: Buffer, options: PublishOptions): Message[];
  /**
   * Deletes a channel: it leaves the store at once (a later publish creates a new channel whose
   * ids restart at 1) with what it stored, and each subscriber receives the id -2 message.
   */
  delete(channel: Channel, text?: string): void;
  /** Drops expired messages and removes inactive empty channels. Called every second or so. */
  sweep(): void;
  /**
   * Calls `then(arg, failure)` once every message published so far is kept as History promises
   * (at once in memory; after the write or fsync with the message log), or could not be.
   */
  whenDurable<T>(then: (arg: T, failure: Refusal | undefined) => void, arg: T): void;
  /** Why a publish would be refused now (the message log cannot write), while that lasts. */
  readonly unavailable: Refusal | undefined;
  /** Messages published (the events channel's excluded). */
  readonly publishedMessages: number;
  /**
   * A broker whose messages arrive after `publish` returned (Redis): resolves once it serves
   * every channel (connected and caught up, or given up waiting with the reason logged).
   */
  start?(): Promise<void>;
  /** Ends its connections (a graceful stop). */
  close?(): void;
  /** A broker shared with other nodes (Redis): its connection's state and catch-ups, for /metrics. */
  readonly shared?: SharedBrokerReading | undefined;
  /** Told of what an asynchronous broker applies; the in-process broker returns its messages from `publish` instead. */
  listener?: BrokerListener | undefined;
}

/** How a broker shared with other nodes fares. */
export interface SharedBrokerReading {
  /** Connected, subscribed and caught up: publishes go through and every node's messages arrive. */
  readonly live: boolean;
  /** Catch-ups from the shared store (the first load and every re-subscription). */
  readonly catchUps: number;
  /** Messages the re-subscriptions' catch-ups handed to this node's subscribers (published while it was away). */
  readonly caughtUpMessages: number;
}

/**
 * Told of every message and deletion an asynchronous broker (Redis) hands to this process, as it
 * happens: the workers' primary streams them on to its workers.
 */
export interface BrokerListener {
  accepted(message: Message, stored: boolean): void;
  deleted(channel: string, text: string | undefined): void;
}
