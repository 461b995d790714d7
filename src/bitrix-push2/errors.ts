const TOO_MANY_CONNECTIONS_CODE = 4029;

/**
 * Push server 2.0's errors, with the reference server's codes and texts (its lib/application.js and
 * adapters): a WebSocket is closed with the code and `<code>: <text>` as the reason; over HTTP the
 * same `<code>: <text>` is the body of a 400 (429 for 4029).
 */
export class Push2Error {
  /** The close reason and the HTTP body. */
  readonly reason: string;

  constructor(
    readonly code: number,
    readonly text: string,
  ) {
    this.reason = `${code}: ${text}`;
  }

  get status(): number {
    return this.code === TOO_MANY_CONNECTIONS_CODE ? 429 : 400;
  }
}

export const push2Errors = {
  wrongChannelId: new Push2Error(4010, "Wrong Channel Id."),
  publicChannelRequired: new Push2Error(4012, "Public Channel Id is Required."),
  wrongRequestData: new Push2Error(4013, "Wrong Request Data."),
  commandNotAllowed: new Push2Error(4014, "Request command is not allowed."),
  privateChannelNotAllowed: new Push2Error(4020, "Private channel is not allowed."),
  invalidSignature: new Push2Error(4021, "Channel has an invalid signature."),
  /** The reference's text has no final period. */
  tooManyConnections: new Push2Error(TOO_MANY_CONNECTIONS_CODE, "Too many connections"),
} as const;
