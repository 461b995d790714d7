import { describe } from "node:test";
import { bitrixScenarios } from "../support/bitrix-scenarios.js";
import { startNodePullClient } from "../support/node-pull-client.js";

/**
 * Bitrix's own pull client (`@bitrix24/b24jssdk` PullClient) in Node against the built-in
 * BitrixVM layout: its long-polling connector over an XMLHttpRequest stand-in and its WebSocket
 * connector over a WebSocket stand-in (test/support), both behaving like a browser's.
 */
describe("Bitrix pull client (b24jssdk) in Node", () => {
  bitrixScenarios(startNodePullClient);
});
