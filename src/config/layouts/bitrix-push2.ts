import { bitrixVmServers, LOOPBACK_ONLY, type BitrixVmTls } from "./bitrixvm.js";

/**
 * `--layout bitrix-push2`: BitrixVM 7.3+'s Push server 2.0 setup (BITRIX.md §4.5, §5) served by
 * one pushwire, no Redis. 8893 (and 8894 with a certificate) take browsers: long polling on
 * /bitrix/sub/, WebSocket on /bitrix/subws/, browser publishing on /bitrix/rest/;
 * 127.0.0.1:8895 takes the site: /bitrix/pub/ (protobuf or text) and /server-stat/. The key is
 * the site's `signature_key` (`securityKey`, or the environment's PUSHWIRE_SECURITY_KEY).
 */
export function bitrixPush2Config(securityKey: string, tls?: BitrixVmTls): Record<string, unknown> {
  const subscriberLocations = [
    {
      path: "/bitrix/sub/",
      protocol: "bitrix-push2",
      subscriber: "long-polling",
      channelsPath: "$arg_CHANNEL_ID",
      longpollingConnectionTtl: "40s",
      allowedOrigins: "*",
      maxChannelsPerRequest: 100,
    },
    {
      path: "/bitrix/subws/",
      protocol: "bitrix-push2",
      subscriber: "websocket",
      channelsPath: "$arg_CHANNEL_ID",
      pingMessageInterval: "120s",
      maxChannelsPerRequest: 100,
    },
    {
      path: "/bitrix/rest/",
      protocol: "bitrix-push2",
      publisher: "normal",
      channelsPath: "$arg_CHANNEL_ID",
      allowedOrigins: "*",
    },
  ];
  const siteLocations = [
    { path: "/bitrix/pub/", protocol: "bitrix-push2", publisher: "admin", channelsPath: "$arg_CHANNEL_ID", ...LOOPBACK_ONLY },
    { path: "/server-stat", protocol: "bitrix-push2", channelsStatistics: true, ...LOOPBACK_ONLY },
    { path: "/dashboard/", dashboard: true, ...LOOPBACK_ONLY },
  ];
  return {
    securityKey,
    messageTtl: "24h",
    maxMessagesStoredPerChannel: 1000,
    maxNumberOfChannels: 100000,
    onlineTtl: "120s",
    maxConnPerChannel: 100,
    servers: bitrixVmServers(subscriberLocations, siteLocations, tls),
  };
}
