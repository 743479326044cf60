/**
 * The secret registry behind `Policy.redact`: every registered value, and the encodings it travels in.
 *
 * @internal
 */

/** Values shorter than this are not registered: redacting them would mangle ordinary text. */
export const MIN_SECRET_LENGTH = 6

const REDACTED = "[redacted]"

/** The base64 characters determined by `bytes` alone when they start `offset` bytes into a larger blob. */
const embeddedBase64 = (bytes: Buffer, offset: number): string => {
  const padded = Buffer.concat([Buffer.alloc(offset), bytes])
  const encoded = padded.toString("base64")
  const skip = offset === 0 ? 0 : offset === 1 ? 2 : 3
  const end = Math.floor(padded.length / 3) * 4
  return encoded.slice(skip, end)
}

/** The forms a secret may appear in: raw, base64 (any alignment, standard and URL-safe), URL- and JSON-escaped. */
export const formsOf = (value: string): ReadonlyArray<string> => {
  const bytes = Buffer.from(value, "utf8")
  const forms = new Set<string>([value])
  const full = bytes.toString("base64")
  forms.add(full)
  forms.add(full.replace(/=+$/, ""))
  forms.add(bytes.toString("base64url"))
  for (const offset of [0, 1, 2]) {
    const embedded = embeddedBase64(bytes, offset)
    if (embedded.length >= 8) {
      forms.add(embedded)
      forms.add(embedded.replace(/\+/g, "-").replace(/\//g, "_"))
    }
  }
  forms.add(encodeURIComponent(value))
  forms.add(new URLSearchParams({ v: value }).toString().slice(2))
  forms.add(JSON.stringify(value).slice(1, -1))
  return [...forms].filter((form) => form.length >= MIN_SECRET_LENGTH)
}

/** A mutable set of secrets with a synchronous redactor. */
export class SecretSet {
  private readonly values = new Set<string>()
  private forms: ReadonlyArray<string> = []

  /** Adds a value; false when it is too short to redact safely. */
  add(value: string): boolean {
    if (value.length < MIN_SECRET_LENGTH) return false
    if (this.values.has(value)) return true
    this.values.add(value)
    const all = new Set(this.forms)
    for (const form of formsOf(value)) all.add(form)
    // Longest first, so a secret's base64 is replaced before a shorter secret inside it.
    this.forms = [...all].sort((a, b) => b.length - a.length)
    return true
  }

  get size(): number {
    return this.values.size
  }

  redact(text: string): string {
    let result = text
    for (const form of this.forms) {
      if (result.includes(form)) result = result.split(form).join(REDACTED)
    }
    return result
  }
}
