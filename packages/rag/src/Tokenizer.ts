/**
 * Identifier splitting and query tokenization, shared by the index (done before text reaches FTS5 or a
 * tsvector) and the retriever. `HeroSection`, `hero_section`, `hero-section` and `src/components/Hero.tsx`
 * all yield `hero` and `section`, so "change the hero section" finds them.
 *
 * @since 0.1.0
 */

const wordPattern = /[\p{L}\p{N}_$]+(?:-[\p{L}\p{N}_$]+)*/gu

/**
 * Splits one identifier into its lower-cased parts: camelCase, PascalCase (with acronyms: `HTMLParser` →
 * `html parser`), snake_case, kebab-case, `$`, and digit runs (`h1` → `h 1`, `Card2` → `card 2`).
 *
 * @since 0.1.0
 */
export const splitIdentifier = (identifier: string): Array<string> => {
  const parts: Array<string> = []
  for (const piece of identifier.split(/[_$\-.\s/\\]+/)) {
    if (piece === "") continue
    const matches = piece.match(/\p{Lu}+(?=\p{Lu}\p{Ll})|\p{Lu}?\p{Ll}+|\p{Lu}+|\p{N}+|[\p{L}]+/gu)
    if (matches === null) continue
    for (const match of matches) parts.push(match.toLowerCase())
  }
  return parts
}

/**
 * Every token of a text: each word's parts (see {@link splitIdentifier}) and, for a compound word, the whole
 * word lower-cased too (so `ContactForm` matches both "contact form" and "contactform").
 *
 * @since 0.1.0
 */
export const tokenize = (text: string): Array<string> => {
  const out: Array<string> = []
  for (const match of text.matchAll(wordPattern)) {
    const word = match[0]
    const parts = splitIdentifier(word)
    for (const part of parts) out.push(part)
    if (parts.length > 1) {
      const whole = word.replace(/[_$-]/g, "").toLowerCase()
      if (whole.length <= 40) out.push(whole)
    }
  }
  return out
}

/**
 * Words that carry no meaning in an edit request ("please make the button on the page bigger").
 *
 * @since 0.1.0
 */
export const stopwords: ReadonlySet<string> = new Set(
  (
    "a an and are as at be but by can could do does for from have how i if in into is it its let me my no " +
    "not of on or our please should so some that the their them then there these this those to too up us " +
    "was we were what when where which while who will with would you your also just like want need make " +
    "change update set use using add added adding new fix fixed fixes get put show instead all any more " +
    "less than very same other each only own s t d ll re ve m o " +
    // Intent words: they say what to do, not where.
    "remove delete implement improve enhance adjust ensure allow prevent handle refactor replace move extract " +
    "support create apply align resolve solve issue issues bug bugs problem broken correct incorrect proper " +
    "properly unnecessary redundant missing extra better consistent overall now when"
  ).split(" ")
)

/**
 * A light English stemmer for matching in JavaScript (plural and a few verb endings), close to what FTS5's
 * `porter` tokenizer and Postgres' `english` configuration do inside the database.
 *
 * @since 0.1.0
 */
export const stem = (token: string): string => {
  if (token.length <= 3 || /^\d+$/.test(token)) return token
  if (token.endsWith("ies") && token.length > 4) return `${token.slice(0, -3)}y`
  if (token.endsWith("sses")) return token.slice(0, -2)
  if (/(?:ches|shes|xes|zes)$/.test(token)) return token.slice(0, -2)
  if (token.endsWith("s") && !token.endsWith("ss") && !token.endsWith("us") && !token.endsWith("is"))
    return token.slice(0, -1)
  if (token.endsWith("ing") && token.length > 5) return token.slice(0, -3)
  if (token.endsWith("ed") && token.length > 4 && !token.endsWith("eed")) return token.slice(0, -2)
  return token
}

/**
 * The meaningful tokens of a request: split, lower-cased, without stopwords and one-letter words,
 * deduplicated in order of first appearance.
 *
 * @since 0.1.0
 */
export const queryTokens = (text: string): Array<string> => {
  const seen = new Set<string>()
  const out: Array<string> = []
  for (const token of tokenize(text)) {
    if (token.length < 2 && !/^\d$/.test(token)) continue
    if (stopwords.has(token) || seen.has(token)) continue
    seen.add(token)
    out.push(token)
  }
  return out
}

/**
 * The tokens of a path: every directory and the file name without extension, split.
 *
 * @since 0.1.0
 */
export const pathTokens = (path: string): Array<string> => {
  const withoutExtension = path.replace(/\.[A-Za-z0-9]+$/, "")
  return tokenize(withoutExtension.replace(/[/\\.]/g, " "))
}
