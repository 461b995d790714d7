/**
 * push-stream's padding by user agent (PROTOCOL.md §8.7): some old browsers only show a streamed
 * response once enough bytes arrived, so the header template and each message are padded up to a
 * minimum for user agents matching a rule. Pure: rules in, padding bytes out.
 */

export interface PaddingRule {
  readonly pattern: RegExp;
  /** Minimum bytes of header template (+ padding). */
  readonly headerMin: number;
  /** Minimum bytes of each rendered message (+ padding). */
  readonly messageMin: number;
}

/** How padding bytes look: a run of CRLF for a plain stream, an SSE comment for EventSource. */
export type PaddingFlavour = "stream" | "eventsource";

const RULE = /^(.+),(\d+),(\d+)$/;

export class PaddingRules {
  /** Largest minimum over all rules: the size of the biggest padding piece. */
  readonly max: number;
  private readonly pieces: Record<PaddingFlavour, Buffer[]>;

  private constructor(readonly rules: readonly PaddingRule[]) {
    this.max = Math.max(0, ...rules.map((rule) => Math.max(rule.headerMin, rule.messageMin)));
    this.pieces = { stream: buildPieces(this.max, "stream"), eventsource: buildPieces(this.max, "eventsource") };
  }

  /** Parses `"regex,H,M[:regex,H,M…]"`; returns the reason when the text is not that. */
  static parse(text: string): PaddingRules | string {
    const rules: PaddingRule[] = [];
    for (const part of text.split(":")) {
      const m = RULE.exec(part);
      if (!m) return rules.length === 0 ? `padding pattern not match the value ${text}` : `error applying padding pattern to ${part}`;
      let pattern: RegExp;
      try {
        pattern = new RegExp(m[1]!);
      } catch (error) {
        return `invalid regular expression ${JSON.stringify(m[1])}: ${(error as Error).message}`;
      }
      rules.push({ pattern, headerMin: Number(m[2]), messageMin: Number(m[3]) });
    }
    return new PaddingRules(rules);
  }

  /** The first rule matching the user agent, if any. */
  match(userAgent: string | undefined): PaddingRule | undefined {
    if (userAgent === undefined) return undefined;
    return this.rules.find((rule) => rule.pattern.test(userAgent));
  }

  /**
   * Bytes to append after `length` bytes to reach `min`, or undefined when none are needed.
   * push-stream hands out pieces in steps of 100 (rounded up), the last step being `max` itself;
   * the pieces are built once and shared.
   */
  paddingFor(length: number, min: number, flavour: PaddingFlavour): Buffer | undefined {
    const missing = min - length;
    if (missing <= 0) return undefined;
    return this.pieces[flavour][Math.floor(missing / 100)];
  }
}

function buildPieces(max: number, flavour: PaddingFlavour): Buffer[] {
  const steps = Math.floor(max / 100);
  const even = max + (max % 2);
  const source = Buffer.alloc(even);
  if (flavour === "stream") {
    for (let i = 0; i < even; i += 2) source.write("\r\n", i, "latin1");
  } else if (even > 0) {
    source.fill(":");
    source[even - 1] = 0x0a;
  }
  // Pieces are tails of the source, so an odd-sized stream piece starts with "\n".
  const pieces: Buffer[] = [];
  for (let i = 0; i <= steps; i++) {
    const size = i === steps ? max : (i + 1) * 100;
    pieces.push(source.subarray(even - size));
  }
  return pieces;
}
