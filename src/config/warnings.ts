import type { PushwireConfig } from "./schema.js";

/**
 * What a valid configuration does that is likely not meant, as "where: what" lines: `--check`
 * prints them (and still exits 0), the start-up and reload log them as warnings. Port 0 is
 * `--check`'s only (`check: true`): at start-up the started line names the port bound.
 */
export function configWarnings(config: PushwireConfig, { check = false } = {}): string[] {
  const warnings: string[] = [];
  const push2 = config.servers.some((server) => server.locations.some((location) => location.protocol === "bitrix-push2" && location.subscriber));
  if (push2 && config.http.securityKey === "") {
    warnings.push("securityKey: empty, so bitrix-push2 subscribers' signed channel ids are refused (400 or WebSocket close 4010 \"Wrong Channel Id.\"); set the site's signature_key in PUSHWIRE_SECURITY_KEY or \"securityKey\"");
  }
  if (check) {
    config.servers.forEach((server, i) => {
      if (server.listen.port === 0) warnings.push(`servers[${i}].listen: port 0 binds a free port the system picks at each start; the start-up line names it`);
    });
  }
  return warnings;
}
