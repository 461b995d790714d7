/**
 * nginx "complex values": text with `$arg_NAME` (query argument) and `$http_NAME` (request header)
 * variables, compiled once at load and evaluated per request. push-stream percent-decodes the
 * evaluated value, so variables are inserted raw and the caller decodes the whole.
 */

/** What a request offers to variables. */
export interface VariableSource {
  /** Raw (still percent-encoded) value of the first query argument with this name (case-insensitive). */
  arg(name: string): string | undefined;
  /** Request header value (name lower-case). */
  header(name: string): string | undefined;
}

type Part = string | { kind: "arg" | "http"; name: string };

export class ComplexValue {
  private constructor(
    readonly source: string,
    private readonly parts: Part[],
  ) {}

  static compile(source: string): ComplexValue | string {
    const parts: Part[] = [];
    const pattern = /\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))/g;
    let last = 0;
    for (const match of source.matchAll(pattern)) {
      const name = match[1] ?? match[2]!;
      if (match.index! > last) parts.push(source.slice(last, match.index));
      const lower = name.toLowerCase();
      if (lower.startsWith("arg_") && name.length > 4) parts.push({ kind: "arg", name: name.slice(4) });
      else if (lower.startsWith("http_") && name.length > 5) parts.push({ kind: "http", name: lower.slice(5).replace(/_/g, "-") });
      else return `unknown variable $${name} (pushwire knows $arg_NAME and $http_NAME)`;
      last = match.index! + match[0].length;
    }
    if (last < source.length) parts.push(source.slice(last));
    return new ComplexValue(source, parts);
  }

  /** True when the value has no variable: it is the same for every request. */
  get isConstant(): boolean {
    return this.parts.every((p) => typeof p === "string");
  }

  /** The raw value; undefined when every variable in it is missing (and there is no literal). */
  evaluate(source: VariableSource): string | undefined {
    if (this.parts.length === 1) return this.one(this.parts[0]!, source);
    let result: string | undefined;
    for (const part of this.parts) {
      const value = this.one(part, source);
      if (value !== undefined) result = (result ?? "") + value;
    }
    return result;
  }

  private one(part: Part, source: VariableSource): string | undefined {
    if (typeof part === "string") return part;
    return part.kind === "arg" ? source.arg(part.name) : source.header(part.name);
  }
}
