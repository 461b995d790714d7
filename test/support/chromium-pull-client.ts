import { createServer, type Server } from "node:http";
import { after, before } from "node:test";
import type { AddressInfo } from "node:net";
import { resolve } from "node:path";
import { build } from "esbuild";
import { chromium, type Browser, type Page } from "playwright-core";
import { findChromium } from "./chromium-path.js";
import { SITE_ID, USER_ID, type ConfigSource, type PullClientUnderTest, type ReceivedEvent, type WireEvent } from "./pull-client.js";

/**
 * The SDK's PullClient in a headless Chromium page. The page is served by a small HTTP server of
 * its own (another origin than pushwire's subscriber port, so every long-poll is a real CORS
 * request); it loads the SDK bundled by esbuild at run time, and its REST stub fetches
 * `pull.config.get` from that page server, which answers what the test says.
 */

const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

/** Headless Chromium for the browser suites; they skip (browserSkipReason) when there is none. */
export function launchChromium(): Promise<Browser> {
  const executablePath = findChromium();
  if (!executablePath) throw new Error("no Chromium: the suite should have been skipped (browserSkipReason)");
  return chromium.launch({ executablePath, headless: true, args: ARGS, timeout: 15_000 });
}

/** The page script: the SDK's PullClient, a REST stub over fetch, handlers that report to the test. */
const ENTRY = `
import { B24PullClientManager } from "@bitrix24/b24jssdk";
window.startPull = (userId, siteId) => {
  const b24 = { actions: { v2: { call: { make: async ({ method, params }) => {
    const reply = await fetch("/rest/" + method, { method: "POST", body: JSON.stringify(params) });
    if (!reply.ok) throw new Error("REST " + method + ": " + reply.status);
    const result = await reply.json();
    return { getData: () => ({ result }) };
  } } } } };
  const client = new B24PullClientManager({ b24, userId, siteId });
  for (const moduleId of ["im", "pull"]) {
    client.subscribe({ moduleId, callback: (data) => window.pushwireReceived({ moduleId, command: data.command, params: data.params }) });
  }
  client.subscribe({ type: "client", moduleId: "im", callback: (data) => window.pushwireReceived({ moduleId: "im", fromClient: true, command: data.command, params: data.params }) });
  client.start().catch(() => {});
  window.pullClient = client;
};
`;

let bundle: Promise<string> | null = null;

/** The page script bundled with the SDK from node_modules (built once per process). */
export function sdkBundle(): Promise<string> {
  bundle ??= build({
    stdin: { contents: ENTRY, resolveDir: resolve(__dirname, "../../.."), loader: "js" },
    bundle: true,
    format: "iife",
    platform: "browser",
    target: "chrome120",
    write: false,
    logLevel: "silent",
    define: { "process.env.NODE_ENV": '"production"' },
  }).then((out) => out.outputFiles[0]!.text);
  return bundle;
}

/** The page's own server: `/`, `/pull.js`, and the REST method. */
async function pageServer(script: string, config: ConfigSource): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url === "/") {
      res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
      return res.end('<!doctype html><meta charset="utf-8"><title>Bitrix page</title><script src="/pull.js"></script>');
    }
    if (req.url === "/pull.js") {
      res.writeHead(200, { "Content-Type": "text/javascript; charset=utf-8" });
      return res.end(script);
    }
    if (req.url === "/rest/pull.config.get" && req.method === "POST") {
      req.resume();
      Promise.resolve()
        .then(config)
        .then((result) => {
          res.writeHead(200, { "Content-Type": "application/json" });
          res.end(JSON.stringify(result));
        }, (error: Error) => {
          res.writeHead(500);
          res.end(String(error));
        });
      return;
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  return server;
}

export interface ChromiumPullClient extends PullClientUnderTest {
  /** The page's origin (`http://127.0.0.1:<port>`). */
  readonly origin: string;
  /** The page the client runs in. */
  readonly page: Page;
}

/**
 * For a describe() block: launches Chromium before its tests, closes it after them, and returns
 * the client factory the scenarios take.
 */
export function chromiumForSuite(): (config: ConfigSource) => Promise<ChromiumPullClient> {
  let browser: Browser | null = null;
  before(async () => {
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
  });
  return (config) => startChromiumPullClient(browser!, config);
}

export async function startChromiumPullClient(
  browser: Browser, config: ConfigSource,
): Promise<ChromiumPullClient> {
  const received: ReceivedEvent[] = [];
  const wire: WireEvent[] = [];
  const server = await pageServer(await sdkBundle(), config);
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const context = await browser.newContext();
  const page = await context.newPage();
  const isPull = (url: string) => /\/bitrix\/(sub|rest)/.test(url);
  page.on("response", (response) => {
    if (isPull(response.url())) wire.push({ kind: "http", url: response.url(), status: response.status() });
  });
  page.on("requestfailed", (request) => {
    if (isPull(request.url())) wire.push({ kind: "http", url: request.url(), status: /ABORTED/.test(request.failure()?.errorText ?? "") ? -1 : 0 });
  });
  page.on("websocket", (socket) => socket.on("close", () => wire.push({ kind: "ws-close", url: socket.url(), status: 0 })));
  await page.exposeFunction("pushwireReceived", (event: ReceivedEvent) => void received.push(event));
  await page.goto(`${origin}/`);
  await page.evaluate(([userId, siteId]) => (globalThis as unknown as { startPull(u: number, s: string): void }).startPull(userId, siteId), [USER_ID, SITE_ID] as const);

  return {
    received,
    wire,
    origin,
    page,
    sendToChannels: async (channels, moduleId, command, params) => {
      await page.evaluate(({ channels, moduleId, command, params }) => (globalThis as unknown as { pullClient: { sendMessageToChannels(c: string[], m: string, cmd: string, p: unknown): Promise<unknown> } })
        .pullClient.sendMessageToChannels(channels, moduleId, command, params), { channels, moduleId, command, params });
    },
    restart: async () => {
      await page.evaluate(() => (globalThis as unknown as { pullClient: { restart(): void } }).pullClient.restart());
    },
    close: async () => {
      await page.evaluate(() => (globalThis as unknown as { pullClient: { destroy(): void } }).pullClient.destroy()).catch(() => {});
      await context.close();
      server.closeAllConnections();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}
