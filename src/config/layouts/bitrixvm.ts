/**
 * The built-in configuration: BitrixVM's nginx-push-stream-module 0.4.0 setup (BITRIX.md §4),
 * used when no --config is given. 8893 serves browsers' long-polls on /bitrix/sub and WebSockets on
 * /bitrix/subws/; 127.0.0.1:8895 takes the site's publishes on /bitrix/pub/ and serves pushwire's
 * live dashboard on /dashboard/ (loopback only: an admin reaches it through an SSH tunnel). With a certificate
 * (`--ssl-cert`/`--ssl-key`), 8894 serves the same locations over TLS, as BitrixVM's `listen 8894 ssl` does.
 */
export const BITRIX_MESSAGE_TEMPLATE =
  '#!NGINXNMS!#{"id":~id~,"channel":"~channel~","tag":"~tag~","time":"~time~","eventid":"~event-id~","text":~text~}#!NGINXNME!#';

export interface BitrixVmTls {
  certificate: string;
  certificateKey: string;
}

export function bitrixVmConfig(tls?: BitrixVmTls): Record<string, unknown> {
  const subscriberLocations = [
    {
      path: "/bitrix/sub",
      subscriber: "long-polling",
      channelsPath: "$arg_CHANNEL_ID",
      lastReceivedMessageTag: "$arg_tag",
      lastReceivedMessageTime: "$arg_time",
      longpollingConnectionTtl: "40s",
      authorizedChannelsOnly: true,
      allowedOrigins: "*",
      rejectArgs: ["callback"],
      messageTemplate: BITRIX_MESSAGE_TEMPLATE,
    },
    {
      path: "/bitrix/subws/",
      subscriber: "websocket",
      channelsPath: "$arg_CHANNEL_ID",
      lastReceivedMessageTag: "$arg_tag",
      lastReceivedMessageTime: "$arg_time",
      websocketAllowPublish: false,
      pingMessageInterval: "40s",
      authorizedChannelsOnly: true,
      messageTemplate: BITRIX_MESSAGE_TEMPLATE,
    },
  ];
  const siteLocations = [
    { path: "/bitrix/pub/", publisher: "admin", channelsPath: "$arg_CHANNEL_ID", storeMessages: true, ...LOOPBACK_ONLY },
    // pushwire's live dashboard, read-only, on the loopback listener only (an SSH tunnel reaches it).
    { path: "/dashboard/", dashboard: true, ...LOOPBACK_ONLY },
  ];
  return {
    maxMessagesStoredPerChannel: 1000,
    messageTtl: "24h",
    maxChannelIdLength: 32,
    maxNumberOfChannels: 100000,
    servers: bitrixVmServers(subscriberLocations, siteLocations, tls),
  };
}

/** Reachable from this machine only, as BitrixVM's `allow 127.0.0.0/8; deny all;`. */
export const LOOPBACK_ONLY = { allow: ["127.0.0.0/8", "::1"], deny: "all" };

/**
 * BitrixVM's listeners: browsers on 8893 (and on 8894 over TLS, given a certificate), the site on
 * 127.0.0.1:8895; on each, every path but the given locations is denied.
 */
export function bitrixVmServers(browserLocations: object[], siteLocations: object[], tls?: BitrixVmTls): object[] {
  const denyRest = { path: "/", deny: "all" };
  const browsers = [...browserLocations, denyRest];
  const secure = tls ? [{ listen: "8894", ssl: { certificate: tls.certificate, certificateKey: tls.certificateKey }, locations: browsers }] : [];
  return [{ listen: "8893", locations: browsers }, ...secure, { listen: "127.0.0.1:8895", locations: [...siteLocations, denyRest] }];
}
