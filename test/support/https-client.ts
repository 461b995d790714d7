import { request, type Agent } from "node:https";
import type { TLSSocket } from "node:tls";
import type { Reply } from "./helpers.js";

export interface HttpsReply extends Reply {
  /** SHA-256 fingerprint of the certificate the server presented on this connection. */
  fingerprint: string;
}

export interface HttpsOptions {
  /** Trusted certificates (the test's self-signed ones). */
  ca: Buffer[];
  method?: string;
  body?: string;
  agent?: Agent;
  timeoutMs?: number;
}

/** One HTTPS request to 127.0.0.1 (checked against `ca` as "localhost"); gives up after 5 s. */
export function httpsRequest(port: number, path: string, options: HttpsOptions): Promise<HttpsReply> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: "127.0.0.1", servername: "localhost", port, path, method: options.method ?? "GET", ca: options.ca, agent: options.agent ?? false,
    }, (res) => {
      const socket = res.socket as TLSSocket;
      const fingerprint = socket.getPeerCertificate().fingerprint256;
      const localPort = socket.localPort!;
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode!, headers: res.headers, rawHeaders: res.rawHeaders, body, text: body.toString("utf8"), localPort, fingerprint });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    const timeoutMs = options.timeoutMs ?? 5000;
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}
