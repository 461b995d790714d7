import { findRedisServer, redisSkipReason } from "../test/support/redis-server.js";
import { aptInstall, describeProgram } from "./apt-install.js";

/**
 * The step of `npm test` that gets the Redis tests a redis-server: it finds one, or installs
 * Debian's package when this user can, or says in one line why the Redis suites will be skipped.
 * It fails the run only when PUSHWIRE_REQUIRE_REDIS=1 (CI sets it). Each suite starts its own
 * server on a free loopback port; nothing here starts one.
 */

function say(line: string): void {
  process.stdout.write(`redis tests: ${line}\n`);
}

function main(): number {
  const required = process.env["PUSHWIRE_REQUIRE_REDIS"] === "1";
  let whyNone = "";
  if (!findRedisServer() && !process.env["PUSHWIRE_REDIS_SERVER"]) {
    say("no redis-server found");
    // redis-sentinel comes along: the failover tests of the Redis broker need it.
    whyNone = aptInstall(["redis-server", "redis-sentinel"], say) ?? "";
  }
  const found = findRedisServer();
  if (found) {
    say(describeProgram(found));
    return 0;
  }
  say(`SKIPPED: ${redisSkipReason()}${whyNone ? `; ${whyNone}` : ""}`);
  return required ? 1 : 0;
}

process.exitCode = main();
