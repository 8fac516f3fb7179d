import { createHash, randomFillSync } from "node:crypto"

const hex = (bytes: Uint8Array): string => {
  let out = ""
  for (const byte of bytes) out += byte.toString(16).padStart(2, "0")
  return `${out.slice(0, 8)}-${out.slice(8, 12)}-${out.slice(12, 16)}-${out.slice(16, 20)}-${out.slice(20)}`
}

// random bytes are drawn 4 KiB at a time: one system call per 256 ids, not one per id
const pool = new Uint8Array(4096)
let poolOffset = pool.length

const randomBytes16 = (): Uint8Array => {
  if (poolOffset + 16 > pool.length) {
    randomFillSync(pool)
    poolOffset = 0
  }
  const bytes = pool.slice(poolOffset, poolOffset + 16)
  poolOffset += 16
  return bytes
}

/** RFC 9562 UUID version 7: 48 bits of Unix milliseconds, then random bits. */
export const uuidV7 = (unixMillis: number): string => {
  const bytes = randomBytes16()
  let ms = unixMillis
  for (let i = 5; i >= 0; i--) {
    bytes[i] = ms % 256
    ms = Math.floor(ms / 256)
  }
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x70
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80
  return hex(bytes)
}

/** RFC 9562 UUID version 8 from a SHA-256 of the name: the same name always gives the same id. */
export const uuidV8FromName = (name: string): string => {
  const bytes = new Uint8Array(createHash("sha256").update(name).digest().subarray(0, 16))
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x80
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80
  return hex(bytes)
}
