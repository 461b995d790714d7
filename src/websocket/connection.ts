import type { Socket } from "node:net";
import type { Held, PushContext } from "../context.js";
import type { WheelEntry } from "../core/timer-wheel.js";
import { CLOSE_POLICY_VIOLATION, closeFrame, EMPTY_CLOSE_FRAME, frame, OPCODE_PONG, WebSocketReader, type WebSocketSink } from "./frame.js";

/** After the server's close frame, how long the client may take to close its side. */
const CLOSE_WAIT_MS = 5000;

/** The location keys a WebSocket connection obeys (a LocationConfig has them all). */
export interface WebSocketLimits {
  /** Largest client message; larger closes with 1009. */
  readonly websocketMaxFrameSize: number;
  /** Bytes a client may leave unread (messages, pongs, everything we write); past it the connection is cut. */
  readonly subscriberMaxBacklog: number;
  /** Pings and pongs a client may send per second; past it the connection closes with 1008 (0 = no cap). */
  readonly websocketMaxControlFramesPerSecond: number;
}

/** What a protocol (push-stream, Bitrix push2) adds to a WebSocket connection. */
export interface WebSocketPeer {
  /** A text message from the client. */
  onText(payload: Buffer): void;
  /** A binary message from the client (only on a connection that accepts them). */
  onBinary(payload: Buffer): void;
  onPong(payload: Buffer): void;
  /** The connection is closing or gone: leave the channels now. Called more than once. */
  leave(): void;
}

const CONNECTION = Symbol("pushwire.websocket");
type WebSocketSocket = Socket & { [CONNECTION]?: WebSocketConnection };

/**
 * One WebSocket connection after the handshake (RFC 6455), for every protocol: it reads client
 * frames (a reader made on the first bytes), answers pings, echoes a client's close, closes on a
 * protocol error, and runs the close handshake — our close frame and FIN, then up to
 * CLOSE_WAIT_MS for the client on the wheel, in the held set so a shutdown can cut it. The
 * protocol's subscriber is its peer: it is told of messages and when to leave its channels.
 *
 * Every byte it writes (messages, pongs, the close) counts against subscriberMaxBacklog once the
 * peer is live, so a client that sends but never reads cannot make the server buffer without end;
 * client pings and pongs are capped per second.
 */
export class WebSocketConnection implements WebSocketSink, WheelEntry, Held {
  readonly mode = "websocket";
  wheelDeadline = 0;
  wheelNext: WheelEntry | null = null;
  wheelPrev: WheelEntry | null = null;
  wheelSlot = -1;
  private reader: WebSocketReader | null = null;
  /** Our close frame is sent; waiting for the client to close its side. */
  private closing = false;
  /** In the held set and on the wheel for the close wait. */
  private lingering = false;
  /** Writes count against subscriberMaxBacklog (from the end of catch-up on). */
  private backlogLimited = false;
  /** Client control frames in the current one-second window, and when it began. */
  private controlFrames = 0;
  private controlWindowStart = 0;

  constructor(
    private readonly ctx: PushContext,
    readonly socket: WebSocketSocket,
    private readonly peer: WebSocketPeer,
    private readonly limits: WebSocketLimits,
    /** Binary messages go to the peer instead of closing with 1003 (bitrix-push2). */
    private readonly acceptBinary = false,
  ) {
    socket[CONNECTION] = this;
    socket.on("data", onSocketData);
    socket.on("end", onSocketEnd);
    socket.on("close", onSocketClose);
    socket.on("error", ignoreError);
  }

  get isClosing(): boolean {
    return this.closing;
  }

  /** Bytes written but not yet taken by the client. */
  get backlog(): number {
    return this.socket.writableLength;
  }

  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }

  /**
   * From now on a write that finds more than subscriberMaxBacklog bytes still unread from earlier
   * writes cuts the connection (one large write alone never does). Called when the peer goes live:
   * a reconnecting client may legitimately be sent a lot of catch-up at once.
   */
  limitBacklog(): void {
    this.backlogLimited = true;
  }

  /** Writes bytes; a client that left too much of the earlier ones unread is cut (see limitBacklog). */
  write(bytes: Buffer): void {
    const { socket } = this;
    if (socket.destroyed) return;
    socket.write(bytes);
    this.withinBacklog(socket.writableLength - bytes.length);
  }

  /** Cuts a client that left more than subscriberMaxBacklog unread; true when it is within it. */
  private withinBacklog(unread: number): boolean {
    const limit = this.limits.subscriberMaxBacklog;
    if (!this.backlogLimited || unread <= limit) return true;
    this.ctx.log.warn(`websocket subscriber ${this.socket.remoteAddress ?? "?"} dropped: ${unread} bytes not read (subscriberMaxBacklog ${limit})`);
    this.peer.leave();
    this.socket.destroy();
    return false;
  }

  /** Client bytes (also those that came right after the handshake). A failure handling them costs this connection only. */
  received(chunk: Buffer): void {
    try {
      (this.reader ??= new WebSocketReader(this, this.limits.websocketMaxFrameSize, this.acceptBinary)).feed(chunk);
    } catch (error) {
      this.ctx.log.error(`websocket ${this.socket.remoteAddress}: ${(error as Error).stack ?? error}`);
      this.peer.leave();
      this.socket.destroy();
    }
  }

  /**
   * Our close frame (`code` undefined: an empty one), then the closing phase: a fresh reader
   * watches for the client's close, the wheel bounds the wait. While the server drains, the
   * wheel no longer turns: the socket is closed right after the frame. Without `wait` (a refusal),
   * the socket closes as soon as the frame is out.
   */
  close(code: number | undefined, reason: string, wait = true): void {
    const { socket, ctx } = this;
    if (this.closing || socket.destroyed) return;
    // A client that does not read would not read our close either.
    if (!this.withinBacklog(socket.writableLength)) return;
    this.closing = true;
    // The server closes TCP first (RFC 6455 §7.1.1): the frame, then our FIN; we still read the
    // client's close on the half-open socket.
    socket.end(code === undefined ? EMPTY_CLOSE_FRAME : closeFrame(code, reason));
    if (ctx.draining) return void socket.destroySoon();
    this.reader = null;
    socket.resume();
    this.lingering = true;
    ctx.held.add(this);
    ctx.wheel.schedule(this, ctx.clock.now() + CLOSE_WAIT_MS);
    if (!wait) socket.destroySoon();
  }

  /** Cuts the connection without a goodbye. */
  destroy(): void {
    this.socket.destroy();
  }

  // --- client frames
  onText(payload: Buffer): void {
    if (!this.closing) this.peer.onText(payload);
  }

  onBinary(payload: Buffer): void {
    if (!this.closing) this.peer.onBinary(payload);
  }

  onPing(payload: Buffer): void {
    if (this.closing || this.tooManyControlFrames()) return;
    this.write(frame(OPCODE_PONG, payload));
  }

  onPong(payload: Buffer): void {
    if (this.closing || this.tooManyControlFrames()) return;
    this.peer.onPong(payload);
  }

  /** Counts a client ping or pong; past websocketMaxControlFramesPerSecond, closes with 1008 and says so in the log. */
  private tooManyControlFrames(): boolean {
    const cap = this.limits.websocketMaxControlFramesPerSecond;
    if (cap === 0) return false;
    const now = this.ctx.clock.now();
    if (now - this.controlWindowStart >= 1000) {
      this.controlWindowStart = now;
      this.controlFrames = 0;
    }
    if (++this.controlFrames <= cap) return false;
    this.ctx.log.warn(`websocket ${this.socket.remoteAddress ?? "?"}: closed with 1008: more than ${cap} control frames in a second (websocketMaxControlFramesPerSecond)`);
    this.peer.leave();
    this.close(CLOSE_POLICY_VIOLATION, "Too many control frames.");
    return true;
  }

  onClose(code: number | undefined): void {
    if (this.closing) return void this.socket.destroySoon(); // the answer to our close: the handshake is done
    this.peer.leave();
    // Echo the client's status (RFC 6455 §5.5.1); the client closes its side on our FIN.
    this.close(code, "");
  }

  onProtocolError(code: number, reason: string): void {
    if (this.closing) return void this.socket.destroySoon(); // whatever the client sends now, we are done
    this.ctx.log.debug(`websocket ${this.socket.remoteAddress}: closing with ${code}: ${reason}`);
    this.peer.leave();
    this.close(code, reason);
  }

  // --- the closing phase, in the held set and on the wheel
  /** The client never answered our close. */
  onWheelExpire(): void {
    this.socket.destroy();
  }

  shutdown(): void {
    this.socket.destroy();
  }

  abort(): void {
    this.socket.destroy();
  }

  /**
   * The client closed its side: the peer leaves, and we close ours. What we still have to send
   * gets the close wait to leave; a client that does not read it is cut when the wait ends.
   */
  clientEnded(): void {
    this.peer.leave();
    const { socket, ctx } = this;
    socket.end();
    if (this.lingering || socket.destroyed) return;
    if (ctx.draining) return void socket.destroySoon();
    this.closing = true;
    this.lingering = true;
    ctx.held.add(this);
    ctx.wheel.schedule(this, ctx.clock.now() + CLOSE_WAIT_MS);
  }

  /** The socket closed: the peer leaves, the close wait is over, nothing of the client is kept. */
  gone(): void {
    this.peer.leave();
    this.reader = null;
    if (!this.lingering) return;
    this.lingering = false;
    this.ctx.wheel.cancel(this);
    this.ctx.held.delete(this);
  }
}

function onSocketData(this: WebSocketSocket, chunk: Buffer): void {
  this[CONNECTION]?.received(chunk);
}

/** The client closed its side: close ours (the socket allows half-open connections). */
function onSocketEnd(this: WebSocketSocket): void {
  const connection = this[CONNECTION];
  if (connection) connection.clientEnded();
  else this.end();
}

function onSocketClose(this: WebSocketSocket): void {
  const connection = this[CONNECTION];
  if (connection) {
    this[CONNECTION] = undefined;
    connection.gone();
  }
}

function ignoreError(): void {
  // 'close' follows every socket error; that is where the connection is released.
}
