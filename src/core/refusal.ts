/** The response header that carries a refusal's reason (push-stream's name). */
export const EXPLAIN_HEADER = "X-Nginx-PushStream-Explain";

/**
 * A request the server turns down: an HTTP status and push-stream's explain text
 * (sent as `X-Nginx-PushStream-Explain`, or inside a WebSocket close frame). Errors are values;
 * the HTTP layer turns them into responses in one place.
 */
export class Refusal {
  constructor(
    readonly status: number,
    readonly explain: string,
  ) {}
}

/** push-stream's catalogue (PROTOCOL.md §13), plus pushwire's own limits. */
export const refusals = {
  noChannelId: new Refusal(400, "No channel id provided."),
  channelIdNotAuthorized: new Refusal(403, "Channel id not authorized for this method."),
  channelIdTooLarge: new Refusal(400, "Channel id is too large."),
  channelIdNotUtf8: new Refusal(400, "Channel id is not valid UTF-8."),
  channelIdControlCharacter: new Refusal(400, "Channel id contains a control character."),
  channelIdTextAfterQuestionMark: new Refusal(400, "Channel id has text after a '?' (push-stream would drop it)."),
  emptyPost: new Refusal(400, "Empty post requests are not allowed."),
  tooManyChannels: new Refusal(403, "Number of channels were exceeded."),
  cannotCreateChannels: new Refusal(403, "Subscriber could not create channels."),
  subscribersLimit: new Refusal(403, "Subscribers limit per channel has been exceeded."),
  tooMuchWildcard: new Refusal(403, "Subscribed too much wildcard channels."),
  tooManyChannelsInRequest: new Refusal(400, "Too many channels in one request."),
  methodNotAllowed: new Refusal(405, "Method not allowed."),
  websocketHeadersMissing: new Refusal(400, "Don't have at least one of the mandatory headers: Connection, Upgrade, Sec-WebSocket-Key and Sec-WebSocket-Version"),
  websocketVersion: new Refusal(400, "Version not supported. Supported versions: 8, 13"),
  websocketNotUpgrade: new Refusal(400, "A WebSocket location needs an upgrade request (Connection: Upgrade)."),
  eventsChannelReadOnly: new Refusal(403, "Only internal routines can change events channel."),
  eventsChannelSubscription: new Refusal(403, "Subscription to events channel is not allowed."),
  expectationFailed: new Refusal(417, "Unsupported Expect header; only 100-continue is supported."),
} as const;
