/**
 * The one path normalizer every sandbox write goes through (pure; `PolicyLive.normalizePath` wraps it).
 *
 * @internal
 */

/** Why a path was refused. */
export interface PathProblem {
  readonly message: string
}

/** Files a write may not touch unless the host changes the list (see `PolicyLive.defaultProtectedFiles`). */
export interface PathRules {
  readonly protectedFiles: ReadonlyArray<string>
  readonly maxLength: number
}

const MAX_SEGMENT = 255
const MAX_DEPTH = 64

// Control, format (zero-width, bidi overrides), line and paragraph separators.
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u
// Characters that look like `/`, `\` or `.` but are not folded to them by NFKC.
const LOOKALIKES = /[\u2215\u2044\u29f8\u2216\u3002\uff61\u0589\u06d4\u2e3c\u2cf9\u2cfe]/u
// Percent-encoded `.`, `/`, `\`, NUL and `%` itself (double encoding).
const ENCODED = /%(2e|2f|5c|00|25)/i

const shown = (path: string): string => {
  const json = JSON.stringify(path.length > 120 ? `${path.slice(0, 120)}…` : path)
  return json.slice(1, -1)
}

const problem = (path: string, why: string, fix: string): PathProblem => ({
  message: `path '${shown(path)}' ${why}: ${fix}`
})

const RELATIVE_HINT = "use a path relative to the sandbox root, e.g. 'src/App.tsx'"

/** Compiles a protected-file pattern: no `/` → matches the file name at any depth; `*` within a segment. */
const compile = (pattern: string): RegExp => {
  const anchored = pattern.includes("/")
  const body = pattern
    .replace(/^\/+/, "")
    .split("/")
    .map((segment) =>
      segment === "**"
        ? "(?:.*)"
        : segment
            .split("*")
            .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
            .join("[^/]*")
    )
    .join("/")
  return new RegExp(anchored ? `^${body}(?:/.*)?$` : `(?:^|/)${body}$`, "i")
}

const compiled = new Map<string, RegExp>()
const matcher = (pattern: string): RegExp => {
  let regex = compiled.get(pattern)
  if (regex === undefined) {
    regex = compile(pattern)
    compiled.set(pattern, regex)
  }
  return regex
}

/** Whether `path` (normalized) is protected: matched by a pattern and not by a later `!pattern` exception. */
export const isProtected = (path: string, patterns: ReadonlyArray<string>): boolean => {
  let result = false
  for (const pattern of patterns) {
    if (pattern.startsWith("!")) {
      if (result && matcher(pattern.slice(1)).test(path)) result = false
    } else if (!result && matcher(pattern).test(path)) {
      result = true
    }
  }
  return result
}

/**
 * Normalizes a sandbox-relative path or says why it is refused. The sandbox root is `.`.
 */
export const normalize = (
  path: unknown,
  write: boolean,
  rules: PathRules
): { readonly ok: true; readonly path: string } | { readonly ok: false; readonly problem: PathProblem } => {
  const fail = (why: string, fix: string) => ({
    ok: false as const,
    problem: problem(String(path), why, fix)
  })
  if (typeof path !== "string") return fail("is not a string", "pass the path as a string")
  if (path.trim().length === 0) return fail("is empty", "name a file, e.g. 'src/App.tsx'")
  if (path.length > rules.maxLength)
    return fail(`is longer than ${rules.maxLength} characters`, "use a shorter path")
  if (path.includes("\u0000")) return fail("contains a NUL byte", "remove it")
  if (INVISIBLE.test(path))
    return fail("contains control or invisible characters", "use plain printable characters")
  if (path.includes("\\")) return fail("contains a backslash", "use '/' as the separator")
  if (
    LOOKALIKES.test(path) ||
    [...path].some((c) => /[./\\:%]/.test(c.normalize("NFKC")) && !/[./\\:%]/.test(c))
  )
    return fail("contains characters that look like '.', '/' or ':'", "use plain ASCII '.' and '/' in paths")
  if (ENCODED.test(path))
    return fail("contains a percent-encoded '.', '/', '\\', NUL or '%'", "pass the decoded path")
  if (/^[a-zA-Z]:/.test(path)) return fail("starts with a drive letter", RELATIVE_HINT)
  if (path.includes(":")) return fail("contains ':'", "file names in the sandbox may not contain ':'")
  if (path.startsWith("/")) return fail("is absolute", RELATIVE_HINT)
  if (path.startsWith("~")) return fail("starts with '~'", RELATIVE_HINT)
  const segments: Array<string> = []
  for (const segment of path.split("/")) {
    if (segment === "" || segment === ".") continue
    if (segment === "..") return fail("contains '..'", "paths may not leave or climb the sandbox tree")
    if (/^\.+$/.test(segment)) return fail("has a segment made only of dots", "rename it")
    if (segment.length > MAX_SEGMENT)
      return fail(`has a segment longer than ${MAX_SEGMENT} characters`, "use shorter names")
    if (/[ .]$/.test(segment) || /^ /.test(segment))
      return fail("has a name that starts with a space or ends with a space or '.'", "trim the name")
    segments.push(segment)
  }
  if (segments.length > MAX_DEPTH) return fail(`is nested deeper than ${MAX_DEPTH} levels`, "flatten it")
  if (segments.length === 0) {
    return write
      ? fail("names the sandbox root", "name a file inside the sandbox, e.g. 'src/App.tsx'")
      : { ok: true, path: "." }
  }
  const normalized = segments.join("/")
  if (write) {
    if (path.endsWith("/")) return fail("ends with '/'", "name a file, not a directory")
    if (segments.some((segment) => segment.toLowerCase() === ".git"))
      return fail("is inside .git", "git internals are managed by the git tool only")
    if (isProtected(normalized, rules.protectedFiles))
      return fail(
        "is a protected file",
        "it may not be written by tools (lockfiles change through npm.install; secrets and registry settings are configured by the host)"
      )
  }
  return { ok: true, path: normalized }
}
