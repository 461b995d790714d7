import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { X509Certificate } from "node:crypto";
import { join } from "node:path";

/** Debian's openssl; node:crypto cannot make an X.509 certificate by itself. */
export const OPENSSL = ["/usr/bin/openssl", "/usr/local/bin/openssl"].find((p) => existsSync(p));

/** Why TLS tests skip, or undefined when they can run. */
export const NO_OPENSSL = OPENSSL ? undefined : "openssl not found in /usr/bin or /usr/local/bin (apt-get install openssl)";

export interface TestCertificate {
  certFile: string;
  keyFile: string;
  pem: Buffer;
  /** SHA-256 fingerprint as node's getPeerCertificate() reports it. */
  fingerprint: string;
}

/**
 * A throw-away self-signed certificate for localhost / 127.0.0.1 (P-256, one day), written to
 * `dir/name.crt` and `dir/name.key`.
 */
export function makeCertificate(dir: string, name: string): TestCertificate {
  if (!OPENSSL) throw new Error(NO_OPENSSL);
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  const made = spawnSync(OPENSSL, [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
    "-subj", `/CN=localhost/O=pushwire test ${name}`, "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
    "-keyout", keyFile, "-out", certFile,
  ], { encoding: "utf8", timeout: 10_000 });
  if (made.status !== 0) throw new Error(`openssl failed: ${made.stderr}`);
  const pem = readFileSync(certFile);
  return { certFile, keyFile, pem, fingerprint: new X509Certificate(pem).fingerprint256 };
}
