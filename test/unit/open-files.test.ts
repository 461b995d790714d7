import { test } from "node:test";
import assert from "node:assert/strict";
import { isOutOfDescriptors, parseOpenFileLimit } from "../../src/observe/open-files.js";

/** The soft open-file limit as Linux reports it in /proc/self/limits. */

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max processes             63474                63474                processes
Max open files            1024                 524288               files
Max locked memory         8388608              8388608              bytes
`;

test("the soft limit of the Max open files line", () => {
  assert.equal(parseOpenFileLimit(LIMITS), 1024);
});

test("unlimited or no such line: unknown", () => {
  assert.equal(parseOpenFileLimit(LIMITS.replace("1024 ", "unlimited ")), undefined);
  assert.equal(parseOpenFileLimit("Limit Soft Limit Hard Limit Units\n"), undefined);
});

test("EMFILE and ENFILE are out of descriptors; other errors are not", () => {
  assert.equal(isOutOfDescriptors(Object.assign(new Error("x"), { code: "EMFILE" })), true);
  assert.equal(isOutOfDescriptors(Object.assign(new Error("x"), { code: "ENFILE" })), true);
  assert.equal(isOutOfDescriptors(Object.assign(new Error("x"), { code: "ECONNRESET" })), false);
  assert.equal(isOutOfDescriptors(undefined), false);
});
