import type { Socket } from "node:net";
import type { Held, PushContext } from "../context.js";
import type { WheelEntry } from "../core/timer-wheel.js";
import { closeFrame, EMPTY_CLOSE_FRAME, frame, OPCODE_PONG, WebSocketReader, type WebSocketSink } from "./frame.js";

/** After the server's close frame, how long the client may take to close its side. */
const CLOSE_WAIT_MS = 5000;

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

  constructor(
    private readonly ctx: PushContext,
    readonly socket: WebSocketSocket,
    private readonly peer: WebSocketPeer,
    private readonly maxMessageSize: number,
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

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Client bytes (also those that came right after the handshake). A failure handling them costs this connection only. */
  received(chunk: Buffer): void {
    try {
      (this.reader ??= new WebSocketReader(this, this.maxMessageSize, this.acceptBinary)).feed(chunk);
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
    if (!this.closing) this.socket.write(frame(OPCODE_PONG, payload));
  }

  onPong(payload: Buffer): void {
    this.peer.onPong(payload);
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

  /** The socket ended or closed: the peer leaves, the close wait is over. */
  gone(): void {
    this.peer.leave();
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
  this[CONNECTION]?.gone();
  this.end();
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
