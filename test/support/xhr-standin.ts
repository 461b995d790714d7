import { request as httpRequest, type Agent, type ClientRequest, type IncomingHttpHeaders } from "node:http";

/**
 * An XMLHttpRequest for Node 20 (which has none), so Bitrix's pull client can long-poll from a
 * test. It behaves like a browser's in what the client and pushwire can observe:
 *
 * - the page has an origin; a cross-origin request carries `Origin`, and its answer must carry a
 *   matching `Access-Control-Allow-Origin` (`*` or the origin) — on every status, 304 included —
 *   or the client sees a network error (status 0), as in a browser;
 * - a request with a header outside the CORS-safelisted set is preceded by an OPTIONS preflight
 *   that must allow it;
 * - `getResponseHeader` on a cross-origin answer sees only the safelisted response headers and
 *   those listed in `Access-Control-Expose-Headers`;
 * - `abort()` while in flight ends in readyState 4 with status 0 (one readystatechange), then
 *   readyState 0, like the XHR spec's abort steps;
 * - connections are kept alive and reused through one agent, like a browser's pool.
 *
 * Only what the SDK's long-polling connector uses is here: open/send/abort, readyState, status,
 * response(Text), responseType "" | "text" | "arraybuffer", getResponseHeader, readystatechange.
 */

export interface XhrExchange {
  method: string;
  url: string;
  /** 0 for a network error, a refused connection or a CORS failure; -1 when aborted. */
  status: number;
  body: string;
}

export interface XhrEnvironment {
  /** The page's origin, e.g. `http://127.0.0.1:1234`. */
  origin: string;
  agent: Agent;
  /** Called once per finished request, for tests to inspect what went over the wire. */
  onExchange?: (exchange: XhrExchange) => void;
}

const SAFELISTED_REQUEST_HEADERS = new Set(["accept", "accept-language", "content-language", "content-type"]);
const SAFELISTED_RESPONSE_HEADERS = new Set(["cache-control", "content-language", "content-length", "content-type", "expires", "last-modified", "pragma"]);

export class NodeXMLHttpRequest extends EventTarget {
  static readonly UNSENT = 0;
  static readonly OPENED = 1;
  static readonly HEADERS_RECEIVED = 2;
  static readonly LOADING = 3;
  static readonly DONE = 4;
  /** Set by the test harness before the client runs. */
  static environment: XhrEnvironment | null = null;

  readyState = 0;
  status = 0;
  statusText = "";
  responseType: "" | "text" | "arraybuffer" = "";
  response: string | ArrayBuffer | null = "";
  responseText = "";
  onreadystatechange: ((event: Event) => void) | null = null;

  private method = "GET";
  private url: URL | null = null;
  private readonly requestHeaders = new Map<string, string>();
  private responseHeaders: IncomingHttpHeaders = {};
  private crossOrigin = false;
  private sent = false;
  private request: ClientRequest | null = null;
  /** Bumped by open/abort so callbacks of an abandoned request do nothing. */
  private generation = 0;

  open(method: string, url: string): void {
    const env = NodeXMLHttpRequest.env();
    this.dropRequest();
    this.generation++;
    this.method = method.toUpperCase();
    this.url = new URL(url, env.origin);
    this.crossOrigin = this.url.origin !== env.origin;
    this.requestHeaders.clear();
    this.responseHeaders = {};
    this.status = 0;
    this.statusText = "";
    this.response = this.responseType === "arraybuffer" ? null : "";
    this.responseText = "";
    this.sent = false;
    this.setState(NodeXMLHttpRequest.OPENED);
  }

  setRequestHeader(name: string, value: string): void {
    if (this.readyState !== NodeXMLHttpRequest.OPENED || this.sent) throw new Error("InvalidStateError: setRequestHeader");
    this.requestHeaders.set(name, value);
  }

  send(body?: string | Uint8Array | null): void {
    if (this.readyState !== NodeXMLHttpRequest.OPENED || this.sent) throw new Error("InvalidStateError: send");
    this.sent = true;
    const generation = this.generation;
    const needsPreflight = this.crossOrigin && [...this.requestHeaders.keys()].some((h) => !SAFELISTED_REQUEST_HEADERS.has(h.toLowerCase()));
    if (needsPreflight) {
      this.preflight(generation, () => this.mainRequest(generation, body));
    } else {
      this.mainRequest(generation, body);
    }
  }

  abort(): void {
    const inFlight = this.sent && this.readyState !== NodeXMLHttpRequest.DONE && this.readyState !== NodeXMLHttpRequest.UNSENT;
    const url = this.url;
    this.dropRequest();
    this.generation++;
    if (inFlight) {
      this.status = 0;
      this.response = this.responseType === "arraybuffer" ? null : "";
      this.responseText = "";
      this.setState(NodeXMLHttpRequest.DONE);
      this.fire("abort");
      this.fire("loadend");
      if (url) NodeXMLHttpRequest.env().onExchange?.({ method: this.method, url: url.href, status: -1, body: "" });
    }
    // The spec's abort steps end in UNSENT without an event.
    if (this.readyState === NodeXMLHttpRequest.DONE) this.readyState = NodeXMLHttpRequest.UNSENT;
    this.sent = false;
  }

  getResponseHeader(name: string): string | null {
    const key = name.toLowerCase();
    if (this.readyState < NodeXMLHttpRequest.HEADERS_RECEIVED) return null;
    if (this.crossOrigin && !SAFELISTED_RESPONSE_HEADERS.has(key)) {
      const exposed = String(this.responseHeaders["access-control-expose-headers"] ?? "").toLowerCase().split(",").map((s) => s.trim());
      if (!exposed.includes(key) && !exposed.includes("*")) return null;
    }
    const value = this.responseHeaders[key];
    if (value === undefined) return null;
    return Array.isArray(value) ? value.join(", ") : value;
  }

  getAllResponseHeaders(): string {
    return Object.entries(this.responseHeaders).map(([k, v]) => `${k}: ${String(v)}\r\n`).join("");
  }

  private static env(): XhrEnvironment {
    const env = NodeXMLHttpRequest.environment;
    if (!env) throw new Error("NodeXMLHttpRequest.environment is not set");
    return env;
  }

  private preflight(generation: number, then: () => void): void {
    const url = this.url!;
    const env = NodeXMLHttpRequest.env();
    const names = [...this.requestHeaders.keys()].map((h) => h.toLowerCase()).filter((h) => !SAFELISTED_REQUEST_HEADERS.has(h)).sort();
    const req = httpRequest(url, {
      method: "OPTIONS",
      agent: env.agent,
      headers: { Origin: env.origin, "Access-Control-Request-Method": this.method, "Access-Control-Request-Headers": names.join(",") },
    }, (res) => {
      res.resume();
      res.on("end", () => {
        if (generation !== this.generation) return;
        const allowed = String(res.headers["access-control-allow-headers"] ?? "").toLowerCase().split(",").map((s) => s.trim());
        const ok = res.statusCode! >= 200 && res.statusCode! < 300 && this.originAllowed(res.headers)
          && names.every((n) => allowed.includes(n) || allowed.includes("*"));
        if (ok) then();
        else this.networkError(`preflight refused (${res.statusCode})`);
      });
    });
    req.on("error", () => generation === this.generation && this.networkError("preflight failed"));
    this.request = req;
    req.end();
  }

  private mainRequest(generation: number, body: string | Uint8Array | null | undefined): void {
    const url = this.url!;
    const env = NodeXMLHttpRequest.env();
    const headers: Record<string, string> = Object.fromEntries(this.requestHeaders);
    if (this.crossOrigin) headers["Origin"] = env.origin;
    const req = httpRequest(url, { method: this.method, agent: env.agent, headers }, (res) => {
      if (generation !== this.generation) return void res.resume();
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        if (generation !== this.generation) return;
        this.request = null;
        if (this.crossOrigin && !this.originAllowed(res.headers)) return this.networkError(`CORS: no matching Access-Control-Allow-Origin on ${res.statusCode}`);
        const bytes = Buffer.concat(chunks);
        this.responseHeaders = res.headers;
        this.status = res.statusCode!;
        this.statusText = res.statusMessage ?? "";
        this.setState(NodeXMLHttpRequest.HEADERS_RECEIVED);
        this.setState(NodeXMLHttpRequest.LOADING);
        this.responseText = this.responseType === "arraybuffer" ? "" : bytes.toString("utf8");
        this.response = this.responseType === "arraybuffer"
          ? bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)
          : this.responseText;
        env.onExchange?.({ method: this.method, url: url.href, status: this.status, body: bytes.toString("utf8") });
        this.setState(NodeXMLHttpRequest.DONE);
        this.fire("load");
        this.fire("loadend");
      });
      res.on("error", () => generation === this.generation && this.networkError("response aborted"));
    });
    req.on("error", () => generation === this.generation && this.networkError("connection failed"));
    this.request = req;
    if (body !== undefined && body !== null) req.write(body);
    req.end();
  }

  private originAllowed(headers: IncomingHttpHeaders): boolean {
    const allow = headers["access-control-allow-origin"];
    return allow === "*" || allow === NodeXMLHttpRequest.env().origin;
  }

  private networkError(why: string): void {
    this.request?.destroy();
    this.request = null;
    this.status = 0;
    this.responseHeaders = {};
    this.response = this.responseType === "arraybuffer" ? null : "";
    this.responseText = "";
    NodeXMLHttpRequest.env().onExchange?.({ method: this.method, url: this.url?.href ?? "", status: 0, body: why });
    this.setState(NodeXMLHttpRequest.DONE);
    this.fire("error");
    this.fire("loadend");
  }

  private dropRequest(): void {
    if (this.request) {
      this.request.destroy();
      this.request = null;
    }
  }

  private setState(state: number): void {
    this.readyState = state;
    const event = new Event("readystatechange");
    this.onreadystatechange?.(event);
    this.dispatchEvent(event);
  }

  private fire(type: string): void {
    this.dispatchEvent(new Event(type));
  }
}
