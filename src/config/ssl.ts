import { readFileSync } from "node:fs";
import { createSecureContext, type SecureContextOptions, type SecureVersion } from "node:tls";

/**
 * A server's `ssl` block, with nginx's directive names (`ssl_certificate` → `certificate`,
 * `ssl_certificate_key` → `certificateKey`, `ssl_protocols` → `protocols`, `ssl_ciphers` → `ciphers`).
 * The files are read and checked when the configuration is loaded, so `--check` and a SIGHUP
 * reload refuse a bad certificate before anything is served with it.
 */
export interface SslConfig {
  certificate: string;
  certificateKey: string;
  protocols: SecureVersion[];
  ciphers: string | undefined;
  /** What node:tls takes: PEM bytes as read at load time, protocol range, ciphers. */
  options: SecureContextOptions;
}

const SSL_KEYS = ["certificate", "certificateKey", "protocols", "ciphers"];
const PROTOCOLS: readonly SecureVersion[] = ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"];
/** nginx's default since 1.23.4. */
const DEFAULT_PROTOCOLS: SecureVersion[] = ["TLSv1.2", "TLSv1.3"];

/** Validates one `ssl` block; problems are pushed as "where.key: what". */
export function parseSsl(value: unknown, where: string, errors: string[], baseDir: string): SslConfig | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    errors.push(`${where}: must be an object with certificate and certificateKey`);
    return undefined;
  }
  const raw = value as Record<string, unknown>;
  const before = errors.length;
  for (const key of Object.keys(raw)) {
    if (!SSL_KEYS.includes(key)) errors.push(`${where}.${key}: unknown key (ssl takes ${SSL_KEYS.join(", ")})`);
  }
  const file = (key: string): { name: string; bytes: Buffer } | undefined => {
    const name = raw[key];
    if (typeof name !== "string" || name === "") {
      errors.push(`${where}.${key}: must be a file name`);
      return undefined;
    }
    const path = name.startsWith("/") ? name : `${baseDir}/${name}`;
    try {
      return { name: path, bytes: readFileSync(path) };
    } catch (error) {
      errors.push(`${where}.${key}: cannot read ${path}: ${(error as Error).message}`);
      return undefined;
    }
  };
  const cert = file("certificate");
  const key = file("certificateKey");
  let protocols = DEFAULT_PROTOCOLS;
  if (raw.protocols !== undefined) {
    const list = raw.protocols;
    if (!Array.isArray(list) || list.length === 0 || !list.every((p) => PROTOCOLS.includes(p as SecureVersion))) {
      errors.push(`${where}.protocols: must be a non-empty list of ${PROTOCOLS.join(", ")}`);
    } else {
      protocols = list as SecureVersion[];
    }
  }
  const ciphers = raw.ciphers;
  if (ciphers !== undefined && (typeof ciphers !== "string" || ciphers.trim() === "")) errors.push(`${where}.ciphers: must be an OpenSSL cipher list string`);
  if (errors.length > before || !cert || !key) return undefined;

  const ranks = protocols.map((p) => PROTOCOLS.indexOf(p));
  const options: SecureContextOptions = {
    cert: cert.bytes,
    key: key.bytes,
    minVersion: PROTOCOLS[Math.min(...ranks)],
    maxVersion: PROTOCOLS[Math.max(...ranks)],
  };
  if (typeof ciphers === "string") options.ciphers = ciphers;
  try {
    createSecureContext(options); // a key that does not match, a PEM that is not one, an unknown cipher list
  } catch (error) {
    errors.push(`${where}: unusable certificate ${cert.name} / key ${key.name}: ${(error as Error).message}`);
    return undefined;
  }
  return { certificate: cert.name, certificateKey: key.name, protocols, ciphers: options.ciphers, options };
}

/** True when two ssl blocks would serve the same bytes (so a reload need not touch the listener). */
export function sameSsl(a: SslConfig | undefined, b: SslConfig | undefined): boolean {
  if (!a || !b) return a === b;
  const [x, y] = [a.options, b.options];
  return (x.cert as Buffer).equals(y.cert as Buffer) && (x.key as Buffer).equals(y.key as Buffer)
    && x.minVersion === y.minVersion && x.maxVersion === y.maxVersion && x.ciphers === y.ciphers;
}
