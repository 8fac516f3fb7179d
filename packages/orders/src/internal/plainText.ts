/**
 * No control characters (the Unicode category Cc: U+0000 to U+001F and U+007F to U+009F) and no
 * unpaired surrogates (U+D800 to U+DFFF), which are not text: PostgreSQL refuses them in JSON and
 * UTF-8 encoders replace them, so two different ids could end up the same. The class lists what
 * is allowed, which is exactly `[^\p{Cc}\p{Cs}]`, so that `Arbitrary` generates matching strings
 * directly instead of generating and discarding.
 *
 * @internal
 */
export const plainText = /^[\u0020-\u007e\u00a0-\ud7ff\ue000-\u{10ffff}]*$/u
