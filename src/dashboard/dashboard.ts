import { readChannelsPath } from "../core/channel-path.js";
import type { Message } from "../core/message.js";
import { percentDecode } from "../core/percent.js";
import { Refusal, refusals } from "../core/refusal.js";
import type { Headers, PushReply, PushRequest } from "../http/exchange.js";
import { addNoCache } from "../routing/answers.js";
import type { RequestVars } from "../routing/request-vars.js";
import type { Handler, Route } from "../routing/route.js";
import type { Channel, ChannelSubscriber } from "../store/channel.js";
import { channelEvent, channelView, messageView } from "./channel-view.js";
import { dashboardOf, frame, type DashboardFeed, type FeedViewer } from "./feed.js";
import { DASHBOARD_CSS, DASHBOARD_HTML, DASHBOARD_JS } from "./page.js";

/**
 * A `dashboard` location (`{ "path": "/dashboard/", "dashboard": true }`): the live dashboard page
 * and what it reads, all under the location's path:
 *   ""            the page (HTML); `app.js`, `app.css` its script and style
 *   "feed"        text/event-stream: the whole picture, then a sample a second (runs the sampler)
 *   "tail?id="    text/event-stream: a channel's messages as they are published, and its events
 *   "api/now"     the "now" panel as JSON (the counters /metrics writes)
 *   "api/channels?q="  channels whose id contains q
 *   "api/channel?id="  a channel's page as JSON
 *   "publish?id=" POST: publishes the body to the channel, if the location sets dashboardPublish
 * Read-only otherwise; allow/deny apply as on any location.
 */
export const dashboardHandler: Handler = (route, request, reply, vars) => {
  const feed = dashboardOf(route.ctx);
  if (!feed) return route.refuse(reply, unavailable, addNoCache([]));
  const sub = vars.path.slice(route.config.path.length);
  if (sub === "publish") return publish(route, feed, request, reply, vars);
  if (request.method !== "GET" && request.method !== "HEAD") return route.refuse(reply, refusals.methodNotAllowed, [...addNoCache([]), "Allow", "GET, HEAD"]);
  switch (sub) {
    case "":
    case "index.html":
      return sendText(reply, "text/html; charset=utf-8", DASHBOARD_HTML(route.config.dashboardPublish));
    case "app.js":
      return sendText(reply, "text/javascript; charset=utf-8", DASHBOARD_JS);
    case "app.css":
      return sendText(reply, "text/css; charset=utf-8", DASHBOARD_CSS);
    case "api/now":
      return sendJson(reply, feed.snapshot());
    case "api/channels":
      return sendJson(reply, feed.search(percentDecode(vars.arg("q") ?? "")));
    case "api/channel":
      return sendJson(reply, channelView(route.ctx, feed, percentDecode(vars.arg("id") ?? "")));
    case "feed":
      return openFeed(feed, reply);
    case "tail":
      return openTail(route, feed, reply, percentDecode(vars.arg("id") ?? ""));
    default:
      return route.refuse(reply, notFound, addNoCache([]));
  }
};

const unavailable = new Refusal(503, "The dashboard needs a running server.");
const notFound = new Refusal(404, "No such dashboard page.");
const publishOff = new Refusal(403, "This dashboard location does not enable publishing (dashboardPublish).");
const crossSite = new Refusal(403, "Dashboard publishing takes requests from the dashboard page only.");
/** A stream whose reader fell this far behind is cut. */
const MAX_BACKLOG = 1 << 20;

/**
 * The page's own headers: nothing is loaded from elsewhere (the CSP says so to the browser), the
 * page cannot be framed, and nothing is sniffed or cached.
 */
function pageHeaders(contentType: string): Headers {
  return addNoCache([
    "Content-Type", contentType,
    "Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options", "nosniff",
    "Referrer-Policy", "no-referrer",
  ]);
}

function sendText(reply: PushReply, contentType: string, text: string): void {
  reply.send(200, pageHeaders(contentType), [Buffer.from(text)]);
}

function sendJson(reply: PushReply, value: unknown): void {
  reply.send(200, pageHeaders("application/json"), [Buffer.from(JSON.stringify(value))]);
}

/** A text/event-stream reply that ends with the server, and is cut when its reader falls behind. */
class DashboardStream implements FeedViewer {
  constructor(private readonly reply: PushReply) {}

  open(onClose: () => void): void {
    const reply = this.reply;
    reply.start(200, addNoCache(["Content-Type", "text/event-stream; charset=utf-8", "X-Accel-Buffering", "no", "X-Content-Type-Options", "nosniff"]));
    reply.write(Buffer.from("retry: 1000\n\n"));
    reply.hold({ abort: onClose });
    reply.onEnd(onClose);
  }

  send(bytes: Buffer): void {
    if (this.reply.done) return;
    if (this.reply.backlog > MAX_BACKLOG) return this.reply.destroy();
    this.reply.write(bytes);
  }

  end(): void {
    if (!this.reply.done) this.reply.end();
  }
}

function openFeed(feed: DashboardFeed, reply: PushReply): void {
  const stream = new DashboardStream(reply);
  stream.open(() => feed.unwatch(stream));
  feed.watch(stream);
}

/**
 * A channel's live tail: a subscriber of the channel (as any other, so it shows up in its
 * subscriptions) and, when there is an events channel, of it too, passing on the events naming
 * this channel.
 */
class ChannelTail extends DashboardStream implements ChannelSubscriber {
  /** How a channel's page counts it among the channel's subscribers. */
  readonly mode = "dashboard tail";
  private readonly joined: Channel[] = [];

  constructor(reply: PushReply, private readonly route: Route, private readonly id: string) {
    super(reply);
  }

  join(channel: Channel): void {
    this.route.ctx.hub.subscribe(channel, this);
    this.joined.push(channel);
  }

  leave(): void {
    for (const channel of this.joined.splice(0)) this.route.ctx.hub.unsubscribe(channel, this);
  }

  onMessage(channel: Channel, message: Message): void {
    if (channel.id === this.id) return this.send(frame("message", messageView(message)));
    const event = channelEvent(message); // from the events channel
    if (event?.channel === this.id) this.send(frame("event", { time: message.time, type: event.type }));
  }

  onChannelDeleted(channel: Channel): void {
    this.route.ctx.hub.unsubscribe(channel, this);
    const at = this.joined.indexOf(channel);
    if (at >= 0) this.joined.splice(at, 1);
    if (channel.id === this.id) this.send(frame("deleted", {}));
  }
}

function openTail(route: Route, feed: DashboardFeed, reply: PushReply, id: string): void {
  const { ctx } = route;
  if (id === "") return route.refuse(reply, refusals.noChannelId, addNoCache([]));
  // An existing channel is watched whatever its id; a new one only with an id a publisher could use.
  const invalid = ctx.store.find(id) ? undefined : ctx.store.checkId(id);
  if (invalid) return route.refuse(reply, invalid, addNoCache([]));
  const channel = ctx.store.obtain(id);
  if (channel instanceof Refusal) return route.refuse(reply, channel, addNoCache([]));
  const tail = new ChannelTail(reply, route, id);
  let closed = false;
  tail.open(() => {
    if (closed) return;
    closed = true;
    tail.leave();
    feed.untrack(tail);
  });
  feed.track(tail);
  if (ctx.events && !channel.forEvents) tail.join(ctx.events.channel);
  tail.join(channel);
}

/**
 * The test-message form: POST with the page's own header (a cross-site form cannot send it
 * without a CORS preflight, which this location never grants), and an Origin, when the browser
 * sends one, naming this host.
 */
function publish(route: Route, feed: DashboardFeed, request: PushRequest, reply: PushReply, vars: RequestVars): void {
  const headers = addNoCache([]);
  if (request.method !== "POST") return route.refuse(reply, refusals.methodNotAllowed, [...headers, "Allow", "POST"]);
  if (!route.config.dashboardPublish) return route.refuse(reply, publishOff, headers);
  const origin = request.header("origin");
  if (request.header("x-pushwire-dashboard") !== "1" || (origin !== undefined && origin !== `http://${request.header("host")}` && origin !== `https://${request.header("host")}`)) {
    return route.refuse(reply, crossSite, headers);
  }
  const requested = readChannelsPath(vars.arg("id") ?? "");
  if (requested instanceof Refusal) return route.refuse(reply, requested, headers);
  if (requested.length !== 1) return route.refuse(reply, requested.length === 0 ? refusals.noChannelId : refusals.tooManyChannelsInRequest, headers);
  route.readBody(request, reply, headers, (body) => {
    if (body.length === 0) return route.refuse(reply, refusals.emptyPost, headers);
    const { ctx } = route;
    const id = requested[0]!.id;
    const channel = ctx.store.checkId(id) ?? ctx.store.obtain(id);
    if (channel instanceof Refusal) return route.refuse(reply, channel, headers);
    if (channel.forEvents) return route.refuse(reply, refusals.eventsChannelReadOnly, headers);
    const started = performance.now();
    const [message] = ctx.broker.publish([channel], body, { eventId: "", eventType: "", store: true });
    ctx.metrics.publishLatency.observe((performance.now() - started) / 1000);
    sendJson(reply, { channel: feed.summary(channel), message: messageView(message!) });
  });
}
