import { describe } from "node:test";
import { bitrixPush2Scenarios } from "../support/bitrix-push2-scenarios.js";
import { startNodePullClient } from "../support/node-pull-client.js";

/**
 * Bitrix's own pull client (`@bitrix24/b24jssdk` PullClient) with server version 4 in this Node
 * process (stand-ins for XMLHttpRequest and WebSocket, test/support) against the bitrix-push2
 * layout: protobuf publishes from the site, protobuf frames to the client, mids, signatures.
 */
describe("Bitrix pull client (b24jssdk), server version 4, in Node", () => {
  bitrixPush2Scenarios(startNodePullClient);
});
