import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * Channel ids of Push server 2.0 (BITRIX.md §2.3): 32 hex characters, a private id optionally
 * paired with its public id (`private:public`), optionally signed (`.` + hex HMAC of the id part
 * with `securityKey`/`securityAlgo`). Public ids handed to browsers are signed over `public:<id>`.
 */

const TOKEN = /^([a-f0-9]{32})(?::([a-f0-9]{32}))?(?:\.([a-f0-9]{32,128}))?$/;

/** A channel a subscriber may listen on, after its signature was checked. */
export interface ChannelToken {
  privateId: string;
  /** Set for a `private:public` pair: the subscriber also listens on the public channel. */
  publicId: string | undefined;
}

export class ChannelSigner {
  constructor(
    readonly key: string,
    readonly algo: string,
  ) {}

  /** True when the server verifies signatures (a key is configured). */
  get enabled(): boolean {
    return this.key !== "";
  }

  sign(data: string): string {
    return createHmac(this.algo, this.key).update(data).digest("hex");
  }

  /** `data.signature` for a browser (tests and tools build ids with it). */
  signed(data: string): string {
    return `${data}.${this.sign(data)}`;
  }

  /** Whether `signature` (hex) is the HMAC of `data`; false with no key. */
  verify(data: string, signature: string): boolean {
    if (!this.enabled) return false;
    const expected = Buffer.from(this.sign(data), "hex");
    const given = Buffer.from(signature, "hex");
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  /**
   * A subscriber's channel token. With a key, every token must carry a valid signature; a pair
   * always needs one. Without a key, plain ids are accepted and a pair cannot be checked, so it
   * is refused. Returns undefined for a wrong id.
   */
  parseSubscriberToken(token: string): ChannelToken | undefined {
    const m = TOKEN.exec(token.toLowerCase());
    if (!m) return undefined;
    const [, privateId, publicId, signature] = m;
    const signedPart = publicId ? `${privateId}:${publicId}` : privateId!;
    if (signature !== undefined ? !this.verify(signedPart, signature) : this.enabled || publicId !== undefined) return undefined;
    return { privateId: privateId!, publicId };
  }

  /** A public id with its `public:` signature, as a browser names a channel it publishes to. */
  verifyPublic(publicId: string, signature: string): boolean {
    return this.verify(`public:${publicId}`, signature);
  }
}
