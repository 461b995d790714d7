/**
 * What the Bitrix scenarios need from a running `@bitrix24/b24jssdk` PullClient, whether it runs
 * in this Node process or in a Chromium page: what its handlers received, what its transport did
 * on the wire, and a way to make it re-fetch its config or stop.
 */

/** One call of a `subscribe({moduleId})` handler. */
export interface ReceivedEvent {
  moduleId: string;
  /** Set for messages another browser published (server version 4), which the SDK hands to `type: "client"` subscriptions. */
  fromClient?: boolean;
  command: string;
  params: Record<string, unknown>;
}

/** One long-poll exchange or WebSocket end as the client saw it. */
export interface WireEvent {
  kind: "http" | "ws-close";
  url: string;
  /** HTTP status; 0 = network/CORS error, -1 = aborted by the client; for ws-close the close code. */
  status: number;
}

export interface PullClientUnderTest {
  /** Calls of the client's `subscribe()` handlers for modules `im` and `pull`, in order. */
  readonly received: ReceivedEvent[];
  readonly wire: WireEvent[];
  /** `client.sendMessageToChannels(channels, moduleId, command, params)`: browser publishing (server version 4). */
  sendToChannels(channels: string[], moduleId: string, command: string, params: Record<string, unknown>): Promise<void>;
  /** `client.restart()`: drop the connection, fetch `pull.config.get` again, reconnect. */
  restart(): Promise<void>;
  /** `client.destroy()`, and the client's environment with it. */
  close(): Promise<void>;
}

/** What answers the client's `pull.config.get` (the `result` object). */
export type ConfigSource = () => Promise<Record<string, unknown>> | Record<string, unknown>;

/** Starts a client whose `pull.config.get` answers `config()`. */
export type PullClientFactory = (config: ConfigSource) => Promise<PullClientUnderTest>;

/** The user and site `start()` requires (BITRIX.md §9). */
export const USER_ID = 7;
export const SITE_ID = "s1";
