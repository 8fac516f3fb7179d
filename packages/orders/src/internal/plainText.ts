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

/**
 * No invisible format characters (the Unicode category Cf: U+200B zero-width space, U+202E
 * right-to-left override, U+FEFF byte order mark, ...): in an id they make two different ids look
 * alike, or text read backwards.
 *
 * @internal
 */
export const noFormatCharacters = /^\P{Cf}*$/u

/**
 * No U+FFFD, the replacement character: it is what a UTF-8 decoder puts in place of bytes that
 * are not UTF-8, so in an id it means either an id that was mangled on the way in, or one that
 * any other invalid bytes would turn into the same id.
 *
 * @internal
 */
export const noReplacementCharacter = /^[^\uFFFD]*$/u
