import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { describeFailures, describeReport, fuzz, type FuzzOutcome } from "../support/fuzz.js";
import { RecordingLogger } from "../support/context.js";
import { start, type Running } from "../support/helpers.js";
import { compareEvents, generateRequests, HTTP_DICTIONARY, leanEvents, LlhttpOracle, type HttpEvent } from "../support/http-fuzz.js";
import { RawClient } from "../support/raw-client.js";

/**
 * The two listeners over real sockets, fed the same fuzzed bytes (the request fuzzer's grammar
 * and mutations): pushwire with the lean listener and pushwire with node:http, both serving a
 * polling location that answers at once. For every input:
 * - exactly one answer per request the lean parser read (the requests up to the first refusal,
 *   upgrade or request that closes the connection), never two, none for an incomplete one, and
 *   on neither listener anything after an answer that closes the connection;
 * - where the parsers must agree (request-parser-fuzz.test.ts), both listeners answer the same
 *   statuses in the same order;
 * - nothing is logged at error level, and both still serve a plain request afterwards.
 * test/fuzz-corpus/http-listener/ is replayed first; a failing input is added to it.
 */

const LIMIT = 4096;
/** After the answers owed, how long a second answer to one request would have to show up. */
const IDLE_MS = 30;

function config(subscriberParser: "lean" | "node"): Record<string, unknown> {
  return {
    subscriberParser,
    clientMaxHeaderSize: LIMIT,
    servers: [{ listen: "127.0.0.1:0", locations: [{ path: "/", subscriber: "polling", channelsPath: "$arg_id" }] }],
  };
}

const oracle = new LlhttpOracle(LIMIT);
const lean = { log: new RecordingLogger(), app: null as Running | null };
const node = { log: new RecordingLogger(), app: null as Running | null };

before(async () => {
  lean.app = await start(config("lean"), { log: lean.log });
  node.app = await start(config("node"), { log: node.log });
});

after(async () => {
  await lean.app?.close();
  await node.app?.close();
});

/**
 * The statuses answered to `input`, and whether an answer closed the connection (`Connection:
 * close`); anything after such an answer would be a second answer to nothing, so it counts too.
 */
async function statuses(app: Running, input: Buffer, owed: number): Promise<{ statuses: number[]; closedEarly: boolean; afterClose: boolean }> {
  const client = await RawClient.open(app.port());
  client.socket.write(input);
  await client.settle(IDLE_MS, () => client.answers().length >= owed || client.answers().some((answer) => answer.close));
  const answers = client.answers();
  const close = answers.findIndex((answer) => answer.close);
  return { statuses: answers.map((answer) => answer.status), closedEarly: close >= 0, afterClose: close >= 0 && close < answers.length - 1 };
}

/** Answers the lean listener owes: one per request read up to where it stops; a CONNECT is cut unanswered. */
function owed(events: HttpEvent[]): number {
  let count = 0;
  for (const event of events) {
    if (event.kind === "error") return count + 1;
    if (event.method !== "CONNECT") count++;
    if (event.kind === "upgrade" || !event.keepAlive) return count;
  }
  return count;
}

async function check(input: Buffer): Promise<FuzzOutcome> {
  const ours = leanEvents(input, [], LIMIT);
  const parsers = compareEvents(ours, await oracle.events(input), input, LIMIT);
  const expected = owed(ours);
  const [fromLean, fromNode] = await Promise.all([statuses(lean.app!, input, expected), statuses(node.app!, input, expected)]);
  const feature = `${fromLean.statuses.join(",")}/${fromNode.statuses.join(",")}`;
  const answered = fromLean.statuses.length;
  // An answer that closes the connection (a request without Host, say) ends it before the requests after it.
  if (answered > expected || (answered < expected && !fromLean.closedEarly)) {
    return { feature, failure: `the lean listener answered ${answered} times (${fromLean.statuses.join(", ")}), the parser read ${expected} requests` };
  }
  for (const [side, from] of [["lean", fromLean], ["node:http", fromNode]] as const) {
    if (from.afterClose) return { feature, failure: `${side} answered after an answer that closed the connection: ${from.statuses.join(", ")}` };
  }
  if (parsers.mismatch || parsers.allowed) return { feature };
  if (feature.split("/")[0] !== feature.split("/")[1]) return { feature, failure: `lean answered ${fromLean.statuses.join(", ")}; node:http ${fromNode.statuses.join(", ")}` };
  return { feature };
}

test("both listeners answer fuzzed requests once each, alike where the parsers agree, and log no error", async (t) => {
  const report = await fuzz({
    name: "http-listener",
    ciRuns: 400,
    batch: 16,
    generate: (rng) => generateRequests(rng, LIMIT),
    dictionary: HTTP_DICTIONARY,
    check,
  });
  t.diagnostic(describeReport("http-listener", report));
  assert.equal(report.failures.length, 0, describeFailures(report.failures));
  for (const side of [lean, node]) {
    assert.deepEqual(side.log.lines.filter((line) => line.startsWith("error")), []);
    const plain = await statuses(side.app!, Buffer.from("GET /?id=after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), 1);
    assert.deepEqual(plain.statuses, [304], "a poll of a channel without messages");
  }
});
