import { after, before, describe, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { normalizeConfig } from "../../src/config/schema.js";
import { browserSkipReason } from "../support/chromium-path.js";
import { launchChromium } from "../support/chromium-pull-client.js";
import { dashboardConfig } from "../support/dashboard.js";
import { openRequest, request, sleep, start, type PendingRequest, type Running } from "../support/helpers.js";
import { launch } from "../support/launch.js";
import { openStream } from "../support/stream-client.js";

/**
 * The dashboard page in headless Chromium (playwright-core, the browser the other browser suites
 * use; skipped with the reason when there is none): no console error and no request outside
 * pushwire, live values that match what the test did, the test-message form and the live tail,
 * a reload underneath, hostile channel ids shown as text. Screenshots of the overview and of a
 * channel page at 1280×800 go to build/test-output/.
 */

const SKIP = browserSkipReason();
const OUTPUT = join(__dirname, "..", "..", "test-output");
const SITE = 1;
/** What the issue allows for a publish to show on the page. */
const SHOWS_WITHIN_MS = 2000;

interface Watched {
  page: Page;
  /** Console errors and uncaught exceptions. */
  errors: string[];
  /** Every URL the page asked for. */
  requests: string[];
}

describe("dashboard in a real browser", { skip: SKIP }, () => {
  let app: Running;
  let browser: Browser;
  let origin = "";

  before(async () => {
    app = await start(dashboardConfig());
    origin = `http://127.0.0.1:${app.port(SITE)}`;
    browser = await launchChromium();
    mkdirSync(OUTPUT, { recursive: true });
  });

  after(async () => {
    await browser?.close();
    await app?.close();
  });

  async function open(t: TestContext, hash = "", at = origin): Promise<Watched> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    t.after(() => context.close());
    const page = await context.newPage();
    const watched: Watched = { page, errors: [], requests: [] };
    page.on("console", (message) => {
      if (message.type() === "error") watched.errors.push(message.text());
    });
    page.on("pageerror", (error) => watched.errors.push(error.message));
    page.on("request", (r) => void watched.requests.push(r.url()));
    await page.goto(`${at}/dashboard/${hash}`);
    await page.waitForSelector("#live.on", { timeout: 5000 });
    return watched;
  }

  /**
   * Polls `check` (locator reads, which the page's CSP does not restrict, unlike evaluating
   * strings in the page) until it is true; fails after `ms`.
   */
  async function until(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
    const deadline = Date.now() + ms;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
      await sleep(25);
    }
  }

  async function chartSum(page: Page, chart: string): Promise<number> {
    return Number(await page.locator(`[data-chart="${chart}"]`).getAttribute("data-sum", { timeout: 5000 }));
  }

  async function tailHas(page: Page, needle: string): Promise<boolean> {
    return ((await page.locator("#tail").textContent({ timeout: 5000 })) ?? "").includes(needle);
  }

  function text(page: Page, selector: string): Promise<string> {
    return page.locator(selector).first().innerText({ timeout: 5000 });
  }

  function publish(id: string, body: string): Promise<void> {
    return request(app.port(SITE), `/pub/?id=${encodeURIComponent(id)}`, { method: "POST", body }).then((r) => assert.equal(r.status, 200));
  }

  function holdLongPoll(id: string): PendingRequest {
    const held = openRequest(app.port(0), `/lp/?id=${id}`, { headers: { "If-Modified-Since": "Thu, 01 Jan 2099 00:00:00 GMT" }, timeoutMs: 0 });
    held.reply.catch(() => {});
    return held;
  }

  test("loads with no console error and no request outside pushwire; held connections match what the test opened", async (t) => {
    const polls = [holdLongPoll("held-a"), holdLongPoll("held-a"), holdLongPoll("held-b")];
    const streams = [openStream(app.port(0), "/stream/?id=held-a"), openStream(app.port(0), "/ev/?id=held-b")];
    t.after(() => {
      for (const p of polls) p.abort();
      for (const s of streams) s.connection.close();
    });
    for (const s of streams) await s.response.head();
    const { page, errors, requests } = await open(t);
    await until(async () => (await text(page, '[data-held="long-polling"]')) === "3", 3000, "3 long-polls shown");
    assert.equal(await text(page, '[data-held="streaming"]'), "1");
    assert.equal(await text(page, '[data-held="eventsource"]'), "1");
    assert.equal(await text(page, '[data-held="websocket"]'), "0");
    assert.equal(await text(page, '[data-value="subscribers"]'), "5");
    assert.equal(await text(page, '[data-value="messageLog"]'), "off");
    await sleep(1200); // a sample or two
    assert.deepEqual(errors, []);
    const outside = requests.filter((url) => !url.startsWith(`${origin}/dashboard/`) && !url.startsWith("data:"));
    assert.deepEqual(outside, [], "every request goes to the dashboard location");
  });

  test("a publish over HTTP shows in publishes/s and in the channel's message list within 2 s", async (t) => {
    const { page, errors } = await open(t);
    await publish("chart", "one");
    await publish("chart", "two");
    const started = Date.now();
    await until(async () => (await chartSum(page, "publishes")) >= 2, SHOWS_WITHIN_MS, "2 publishes charted");
    assert.ok(Date.now() - started <= SHOWS_WITHIN_MS);
    await page.locator('[data-channel="chart"]').first().click();
    await page.waitForSelector('[data-table="messages"]');
    assert.equal(await page.locator('[data-table="messages"] tbody tr').count(), 2);
    const published = Date.now();
    await publish("chart", "three, while the page is open");
    await until(async () => (await page.locator('[data-table="messages"] tbody tr').count()) === 3, SHOWS_WITHIN_MS, "3 messages listed");
    assert.ok(Date.now() - published <= SHOWS_WITHIN_MS);
    assert.equal(await text(page, '[data-table="messages"] tbody tr td.text'), "three, while the page is open");
    assert.deepEqual(errors, []);
  });

  test("the test-message form publishes and the live tail shows it", async (t) => {
    const { page, errors } = await open(t, "#channel=form-test");
    await page.click("#watch");
    await until(() => tailHas(page, "watching form-test"), 3000, "the tail open");
    await page.fill("#publish-text", "hello from the form");
    await page.click("#publish");
    await until(() => tailHas(page, "hello from the form"), SHOWS_WITHIN_MS, "the message in the tail");
    assert.match(await text(page, "#publish-result"), /^published #1 /);
    const stored = app.push.ctx.store.find("form-test")!.messages.last()!;
    assert.equal(stored.text.toString(), "hello from the form");
    await page.waitForSelector('[data-table="messages"]');
    assert.deepEqual(errors, []);
  });

  test("keeps working across a reload (what SIGHUP applies)", async (t) => {
    const { page, errors } = await open(t);
    const result = normalizeConfig(JSON.parse(JSON.stringify(dashboardConfig({ messageTtl: "10m" }))));
    assert.ok(result.config);
    // Keep the bound ports: the reload matches listeners by address.
    result.config.servers.forEach((server, i) => (server.listen.port = app.port(i)));
    await app.push.reload(result.config);
    const before = await chartSum(page, "publishes");
    await publish("after-reload", "x");
    await until(async () => (await chartSum(page, "publishes")) > before, SHOWS_WITHIN_MS, "the publish after the reload charted");
    assert.equal(await text(page, "#live"), "live");
    // A new page after the reload is served by the new routes.
    const second = await open(t);
    assert.deepEqual([...errors, ...second.errors], []);
  });

  test("the bundle (dist/pushwire.js): the page keeps working across a SIGHUP reload", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "pushwire-dashboard-"));
    const file = join(dir, "pushwire.json");
    writeFileSync(file, JSON.stringify(dashboardConfig()));
    const launched = await launch(["--config", file]);
    t.after(async () => {
      await launched.stop();
      rmSync(dir, { recursive: true, force: true });
    });
    const site = `http://127.0.0.1:${launched.ports[1]}`;
    const { page, errors } = await open(t, "", site);
    assert.match(await text(page, "#version"), /^v\d+\.\d+\.\d+/, "the bundle's version");
    writeFileSync(file, JSON.stringify(dashboardConfig({ messageTtl: "10m" })));
    const from = launched.output().length;
    launched.child.kill("SIGHUP");
    await launched.waitFor(/reload: applied: messageTtl/, 5000, from);
    const before = await chartSum(page, "publishes");
    const reply = await request(launched.ports[1]!, "/pub/?id=after-sighup", { method: "POST", body: "x" });
    assert.equal(reply.status, 200);
    await until(async () => (await chartSum(page, "publishes")) > before, SHOWS_WITHIN_MS, "the publish after SIGHUP charted");
    assert.equal(await text(page, "#live"), "live");
    assert.deepEqual(errors, []);
  });

  test("hostile channel ids (quotes, <script>, CR/LF) are shown as text, never as markup", async (t) => {
    const scripted = `"'><script>window.pwned=1</script>`;
    const imaged = `x"><img src=x onerror="window.pwned=2">`;
    const broken = "line\r\nbreak<b>bold</b>";
    for (const id of [scripted, imaged, broken]) assert.ok(!("status" in app.push.ctx.store.obtain(id)), id);
    app.push.ctx.broker.publish([app.push.ctx.store.find(imaged)!], Buffer.from('<img src=y onerror="window.pwned=3">'), { eventId: "", eventType: "<i>t</i>", store: true });
    const { page, errors } = await open(t);
    await page.fill("#search", "pwned");
    await until(async () => (await page.locator('[data-table="channels"] tbody tr').count()) === 2, 3000, "2 search results");
    const shown = await page.locator('[data-table="channels"] tbody a').allTextContents();
    assert.deepEqual(shown.sort(), [scripted, imaged].sort());
    await page.fill("#search", "break");
    await until(async () => (await page.locator('[data-table="channels"] tbody tr').count()) === 1, 3000, "1 search result");
    assert.equal(await page.locator('[data-table="channels"] tbody a').textContent(), broken);
    await page.goto(`${origin}/dashboard/#channel=${encodeURIComponent(imaged)}`);
    await page.waitForSelector('[data-table="messages"]');
    assert.equal(await page.locator("#channel-id").textContent(), imaged);
    assert.equal(await page.locator('[data-table="messages"] td.text').textContent(), '<img src=y onerror="window.pwned=3">');
    assert.equal(await page.evaluate(() => (globalThis as unknown as { pwned?: number }).pwned), undefined);
    assert.equal(await page.locator("#app script, #app img, #app b, #app i").count(), 0);
    assert.deepEqual(errors, []);
  });

  test("screenshots of the overview and of a channel page at 1280×800", async (t) => {
    const polls = Array.from({ length: 12 }, (_, i) => holdLongPoll(`lobby-${i % 3}`)); // channels nobody publishes to: held throughout
    const streams = [openStream(app.port(0), "/stream/?id=room-0"), openStream(app.port(0), "/ev/?id=room-1"), openStream(app.port(0), "/ev/?id=room-2")];
    t.after(() => {
      for (const p of polls) p.abort();
      for (const s of streams) s.connection.close();
    });
    const { page, errors } = await open(t);
    // Some seconds of uneven traffic, so the charts have a shape.
    for (let second = 0; second < 12; second++) {
      const count = 3 + ((second * 7) % 11);
      for (let i = 0; i < count; i++) await publish(`room-${i % 4}`, JSON.stringify({ text: `message ${second}.${i}`, from: "screenshot" }));
      await request(app.port(0), "/nowhere");
      await sleep(1000);
    }
    await page.screenshot({ path: join(OUTPUT, "dashboard-overview.png") });
    await page.locator('[data-channel="room-1"]').first().click();
    await page.waitForSelector('[data-table="messages"]');
    await page.click("#watch");
    await until(() => tailHas(page, "watching room-1"), 3000, "the tail open");
    await publish("room-1", JSON.stringify({ text: "seen live", from: "screenshot" }));
    await until(() => tailHas(page, "seen live"), 3000, "the tail");
    await page.evaluate(() => (globalThis as unknown as { scrollTo(x: number, y: number): void }).scrollTo(0, 0));
    await page.screenshot({ path: join(OUTPUT, "dashboard-channel.png") });
    assert.deepEqual(errors, []);
  });
});
