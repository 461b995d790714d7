import type { VariableSource } from "../config/complex-value.js";
import type { PushRequest } from "../http/exchange.js";

/** The parts of a request that configuration variables and handlers read: path, query, headers. */
export class RequestVars implements VariableSource {
  readonly path: string;
  readonly query: string;

  constructor(readonly request: PushRequest) {
    const url = request.url;
    const q = url.indexOf("?");
    this.path = q >= 0 ? url.slice(0, q) : url;
    this.query = q >= 0 ? url.slice(q + 1) : "";
  }

  /** Raw value of the first `name=` argument, matched case-insensitively as nginx's $arg_ does. */
  arg(name: string): string | undefined {
    const query = this.query;
    if (query === "") return undefined;
    const length = name.length;
    let start = 0;
    while (start <= query.length) {
      let end = query.indexOf("&", start);
      if (end < 0) end = query.length;
      if (end - start >= length && (end - start === length || query.charCodeAt(start + length) === 0x3d /* = */)
          && query.slice(start, start + length).toLowerCase() === name.toLowerCase()) {
        return end - start === length ? "" : query.slice(start + length + 1, end);
      }
      start = end + 1;
    }
    return undefined;
  }

  header(name: string): string | undefined {
    return this.request.header(name);
  }
}
