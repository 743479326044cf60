/**
 * Splits source files into retrievable chunks. TypeScript and JavaScript (with JSX) are parsed with the
 * TypeScript compiler API: one chunk per component (function declarations, arrow functions, `memo(...)` and
 * `forwardRef(...)` wrappers, default-exported anonymous functions, class components), custom hook,
 * function, class and group of type declarations, plus a header chunk with the imports and other top-level
 * statements. A component longer than `maxComponentLines` becomes a collapsed parent chunk (signature and
 * JSX outline) with child chunks holding its body.
 *
 * Each chunk carries metadata for the retriever: JSX text and string literals (what users quote: "change the
 * hero headline"), `className` tokens, resolved imports (relative and through tsconfig `paths`), the
 * components it renders, router paths, a signature and a skeleton for context composition.
 *
 * CSS is split by rule blocks, Markdown by headings, HTML by sections; anything else is one `file` chunk.
 *
 * The chunker is pure and never fails: the TypeScript parser recovers from syntax errors, so a half-written
 * file still yields chunks.
 *
 * @since 0.1.0
 */
import type { Domain, Indexer } from "@lathe/core"
import ts from "typescript"

/**
 * Chunker settings.
 *
 * @since 0.1.0
 */
export interface Options {
  /** Components longer than this many lines get a collapsed parent and child chunks (default 120). */
  readonly maxComponentLines?: number
  /** Header chunks and CSS groups longer than this are split (default 80). */
  readonly maxHeaderLines?: number
  /** tsconfig `compilerOptions.paths`, e.g. `{ "@/*": ["./src/*"] }` (default: `@/*` and `~/*` → `src/*`). */
  readonly paths?: Readonly<Record<string, ReadonlyArray<string>>>
  /** tsconfig `compilerOptions.baseUrl`, relative to the app root (default "."). */
  readonly baseUrl?: string
}

/**
 * How a file is chunked, by extension.
 *
 * @since 0.1.0
 */
export type Language = "ts" | "tsx" | "js" | "jsx" | "css" | "markdown" | "html" | "other"

/** @since 0.1.0 */
export const languageOf = (path: string): Language => {
  const extension = path.toLowerCase().match(/\.([a-z0-9]+)$/)?.[1] ?? ""
  switch (extension) {
    case "ts":
    case "mts":
    case "cts":
      return "ts"
    case "tsx":
      return "tsx"
    case "js":
    case "mjs":
    case "cjs":
      return "js"
    case "jsx":
      return "jsx"
    case "css":
    case "scss":
    case "sass":
    case "less":
      return "css"
    case "md":
    case "mdx":
    case "markdown":
      return "markdown"
    case "html":
    case "htm":
      return "html"
    default:
      return "other"
  }
}

/** A route found in a file: its path and the component it renders, when known. @since 0.1.0 */
export interface RouteInfo {
  readonly path: string
  readonly component: string | null
}

/**
 * The metadata each chunk carries (stored as JSON in `Chunk.metadata`).
 *
 * @since 0.1.0
 */
export interface ChunkMetadata {
  /** Text between JSX tags. */
  readonly jsxText: ReadonlyArray<string>
  /** String literals (attribute values, constants), not class names or module specifiers. */
  readonly literals: ReadonlyArray<string>
  /** Tokens of `className` / `class` values and of `cn(...)`-style calls inside them; CSS class selectors. */
  readonly classNames: ReadonlyArray<string>
  /** Resolved import targets: an app path without extension (`src/components/Hero`) or a package name. */
  readonly imports: ReadonlyArray<string>
  /** Local import bindings to their resolved target (`{ Hero: "src/components/Hero" }`), header chunks only. */
  readonly bindings: Readonly<Record<string, string>>
  /** Components rendered as JSX (`<Hero />` → `Hero`). */
  readonly renders: ReadonlyArray<string>
  /** Router paths declared here (`<Route path>`, `createBrowserRouter([{ path }])`, `createFileRoute`). */
  readonly routes: ReadonlyArray<RouteInfo>
  /** The declaration's first line(s): `export const Hero = ({ title }: Props) =>`. */
  readonly signature: string
  /** Signature plus an outline of the JSX tree, for context composition. */
  readonly skeleton: string
  /** Set on the children of an oversized component: their position (1-based). */
  readonly part?: number
}

const defaultPaths: Readonly<Record<string, ReadonlyArray<string>>> = {
  "@/*": ["src/*"],
  "~/*": ["src/*"]
}

// ---------------------------------------------------------------------------------------------------------
// Paths and imports
// ---------------------------------------------------------------------------------------------------------

const normalize = (path: string): string => {
  const out: Array<string> = []
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue
    if (part === "..") out.pop()
    else out.push(part)
  }
  return out.join("/")
}

const dirname = (path: string): string => {
  const index = path.lastIndexOf("/")
  return index < 0 ? "" : path.slice(0, index)
}

/** Strips a source extension so `./Hero.tsx`, `./Hero.js` (TS ESM style) and `./Hero` meet. */
const stripExtension = (path: string): string => path.replace(/\.(?:[cm]?[jt]sx?)$/, "")

/**
 * Resolves an import specifier seen in `fromPath` to an app path without extension (`src/components/Hero`),
 * through relative paths and tsconfig `paths`; a bare package specifier is returned as the package name
 * (`react`, `@tanstack/react-router`). The index matches the result against `Hero.tsx`, `Hero/index.ts` ….
 *
 * @since 0.1.0
 */
export const resolveImport = (fromPath: string, specifier: string, options: Options = {}): string => {
  if (specifier.startsWith(".")) return stripExtension(normalize(`${dirname(fromPath)}/${specifier}`))
  if (specifier.startsWith("/")) return stripExtension(normalize(specifier))
  const paths = options.paths ?? defaultPaths
  const baseUrl = options.baseUrl ?? "."
  for (const [pattern, targets] of Object.entries(paths)) {
    const target = targets[0]
    if (target === undefined) continue
    if (pattern.endsWith("*")) {
      const prefix = pattern.slice(0, -1)
      if (specifier.startsWith(prefix)) {
        const rest = specifier.slice(prefix.length)
        return stripExtension(normalize(`${baseUrl}/${target.replace("*", rest)}`))
      }
    } else if (pattern === specifier) {
      return stripExtension(normalize(`${baseUrl}/${target}`))
    }
  }
  const parts = specifier.split("/")
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : (parts[0] ?? specifier)
}

/**
 * Reads `compilerOptions.paths` and `baseUrl` from a tsconfig/jsconfig text (comments and trailing commas
 * allowed). `configPath` is the config's own path in the app, used to make `baseUrl` app-relative.
 *
 * @since 0.1.0
 */
export const pathsFromTsconfig = (
  configPath: string,
  text: string
): { readonly paths?: Record<string, Array<string>>; readonly baseUrl?: string } => {
  const parsed = ts.parseConfigFileTextToJson(configPath, text)
  const options = (parsed.config as { compilerOptions?: { paths?: unknown; baseUrl?: unknown } } | undefined)
    ?.compilerOptions
  if (options === undefined) return {}
  const base = normalize(
    `${dirname(configPath)}/${typeof options.baseUrl === "string" ? options.baseUrl : "."}`
  )
  const result: { paths?: Record<string, Array<string>>; baseUrl?: string } = {
    baseUrl: base === "" ? "." : base
  }
  if (options.paths !== null && typeof options.paths === "object") {
    const paths: Record<string, Array<string>> = {}
    for (const [key, value] of Object.entries(options.paths as Record<string, unknown>)) {
      if (Array.isArray(value)) paths[key] = value.filter((v): v is string => typeof v === "string")
    }
    result.paths = paths
  }
  return result
}

// ---------------------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------------------

interface Draft {
  kind: Indexer.ChunkKind
  name: string
  exported: boolean
  startLine: number
  endLine: number
  text: string
  parent: Draft | null
  metadata: ChunkMetadata
}

const emptyMetadata = (): ChunkMetadata => ({
  jsxText: [],
  literals: [],
  classNames: [],
  imports: [],
  bindings: {},
  renders: [],
  routes: [],
  signature: "",
  skeleton: ""
})

const uniq = <A>(values: Iterable<A>, limit = 400): Array<A> => {
  const out: Array<A> = []
  const seen = new Set<A>()
  for (const value of values) {
    if (seen.has(value)) continue
    seen.add(value)
    out.push(value)
    if (out.length >= limit) break
  }
  return out
}

const squash = (text: string): string => text.replace(/\s+/g, " ").trim()

const finish = (path: string, drafts: ReadonlyArray<Draft>): Array<Indexer.Chunk> => {
  const ids = new Map<Draft, string>()
  const used = new Set<string>()
  for (const draft of drafts) {
    let id = `${path}#L${draft.startLine}-${draft.endLine}:${draft.kind}:${draft.name}`
    for (let n = 2; used.has(id); n++)
      id = `${path}#L${draft.startLine}-${draft.endLine}:${draft.kind}:${draft.name}~${n}`
    used.add(id)
    ids.set(draft, id)
  }
  return drafts.map((draft) => ({
    id: ids.get(draft)!,
    path,
    kind: draft.kind,
    name: draft.name,
    exported: draft.exported,
    startLine: draft.startLine,
    endLine: draft.endLine,
    text: draft.text,
    parentId: draft.parent === null ? null : (ids.get(draft.parent) ?? null),
    metadata: draft.metadata as unknown as Domain.JsonObject
  }))
}

const baseName = (path: string): string => {
  const file = path.split("/").pop() ?? path
  const stem = file.replace(/\.[^.]+$/, "")
  // `components/Hero/index.tsx` is the Hero component.
  if (stem === "index") {
    const parts = path.split("/")
    return parts[parts.length - 2] ?? stem
  }
  return stem
}

const pascal = (name: string): string =>
  name
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((part) => part[0]!.toUpperCase() + part.slice(1))
    .join("")

// ---------------------------------------------------------------------------------------------------------
// TypeScript / JavaScript
// ---------------------------------------------------------------------------------------------------------

const classCalls = new Set(["cn", "clsx", "classnames", "classNames", "twMerge", "cva", "twJoin", "cx"])
const fileRouteCalls = new Set(["createFileRoute", "createLazyFileRoute", "createRootRoute"])
const wrapperCalls = new Set(["memo", "forwardRef", "observer", "withRouter", "connect", "styled", "lazy"])

const calleeName = (expression: ts.Expression): string | undefined => {
  if (ts.isIdentifier(expression)) return expression.text
  if (ts.isPropertyAccessExpression(expression)) return expression.name.text
  return undefined
}

const tagName = (name: ts.JsxTagNameExpression): string => {
  if (ts.isIdentifier(name)) return name.text
  if (ts.isPropertyAccessExpression(name)) return name.getText()
  if (ts.isJsxNamespacedName(name)) return `${name.namespace.text}:${name.name.text}`
  return "this"
}

const isComponentTag = (name: string): boolean =>
  /^[A-Z]/.test(name) || (name.includes(".") && /^[A-Za-z]/.test(name))

const jsxAttribute = (element: ts.JsxOpeningLikeElement, name: string): ts.JsxAttribute | undefined => {
  for (const property of element.attributes.properties) {
    if (ts.isJsxAttribute(property) && property.name.getText() === name) return property
  }
  return undefined
}

const stringOf = (node: ts.Node | undefined): string | undefined => {
  if (node === undefined) return undefined
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return node.text
  if (ts.isJsxExpression(node) && node.expression !== undefined) return stringOf(node.expression)
  return undefined
}

/** The component a route renders: `element={<About />}`, `component={About}`, `Component: About`. */
const componentOf = (node: ts.Node | undefined): string | null => {
  if (node === undefined) return null
  if (ts.isJsxExpression(node)) return componentOf(node.expression)
  if (ts.isIdentifier(node)) return node.text
  if (ts.isParenthesizedExpression(node)) return componentOf(node.expression)
  if (ts.isJsxSelfClosingElement(node)) return tagName(node.tagName)
  if (ts.isJsxElement(node)) {
    const name = tagName(node.openingElement.tagName)
    // `<Layout><About /></Layout>`-style wrappers: the innermost component is the page.
    const inner = node.children.find((child) => ts.isJsxElement(child) || ts.isJsxSelfClosingElement(child))
    return inner !== undefined ? (componentOf(inner) ?? name) : name
  }
  return null
}

const routePath = (path: string): string => (path.startsWith("/") ? path : `/${path}`)

interface Collected {
  jsxText: Array<string>
  literals: Array<string>
  classNames: Array<string>
  renders: Array<string>
  routes: Array<RouteInfo>
}

const collect = (nodes: ReadonlyArray<ts.Node>): Collected => {
  const out: Collected = { jsxText: [], literals: [], classNames: [], renders: [], routes: [] }
  const visit = (node: ts.Node, inClass: boolean): void => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) return
    if (ts.isJsxText(node)) {
      const text = squash(node.text)
      if (text !== "" && /[\p{L}\p{N}]/u.test(text)) out.jsxText.push(text.slice(0, 300))
      return
    }
    if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) {
      const parent = node.parent
      if (
        parent !== undefined &&
        ts.isCallExpression(parent) &&
        (parent.expression.kind === ts.SyntaxKind.ImportKeyword ||
          calleeName(parent.expression) === "require")
      )
        return
      if (inClass) out.classNames.push(...node.text.split(/\s+/).filter(Boolean))
      else if (/[\p{L}\p{N}]/u.test(node.text) && node.text.length > 1)
        out.literals.push(node.text.slice(0, 300))
      return
    }
    if (ts.isTemplateExpression(node)) {
      const pieces = [node.head.text, ...node.templateSpans.map((span) => span.literal.text)]
      for (const piece of pieces) {
        if (inClass) out.classNames.push(...piece.split(/\s+/).filter(Boolean))
        else if (/[\p{L}\p{N}]/u.test(piece) && piece.trim().length > 1) out.literals.push(squash(piece))
      }
      for (const span of node.templateSpans) visit(span.expression, inClass)
      return
    }
    if (ts.isJsxAttribute(node)) {
      const name = node.name.getText()
      if (node.initializer !== undefined)
        visit(node.initializer, inClass || name === "className" || name === "class")
      return
    }
    if (ts.isCallExpression(node)) {
      const callee = calleeName(node.expression)
      if (callee !== undefined && classCalls.has(callee)) {
        for (const argument of node.arguments) visit(argument, true)
        return
      }
      // TanStack Router: createFileRoute("/about")({ component: About })
      const inner = node.expression
      if (ts.isCallExpression(inner) && fileRouteCalls.has(calleeName(inner.expression) ?? "")) {
        const path = stringOf(inner.arguments[0])
        const options = node.arguments[0]
        let component: string | null = null
        if (options !== undefined && ts.isObjectLiteralExpression(options)) {
          for (const property of options.properties) {
            if (property.name?.getText() !== "component") continue
            if (ts.isPropertyAssignment(property)) component = componentOf(property.initializer)
            else if (ts.isShorthandPropertyAssignment(property)) component = property.name.text
          }
        }
        if (path !== undefined) out.routes.push({ path: routePath(path), component })
        for (const argument of node.arguments) visit(argument, inClass)
        return
      }
      if (callee !== undefined && fileRouteCalls.has(callee)) {
        const path = stringOf(node.arguments[0])
        if (path !== undefined) out.routes.push({ path: routePath(path), component: null })
      }
    }
    if (ts.isJsxSelfClosingElement(node) || ts.isJsxOpeningElement(node)) {
      const name = tagName(node.tagName)
      if (isComponentTag(name)) out.renders.push(name.split(".")[0]!)
      if (name === "Route" || name.endsWith(".Route")) {
        const path = stringOf(jsxAttribute(node, "path")?.initializer)
        const index = jsxAttribute(node, "index") !== undefined
        const element =
          jsxAttribute(node, "element") ?? jsxAttribute(node, "component") ?? jsxAttribute(node, "Component")
        if (path !== undefined || index)
          out.routes.push({ path: routePath(path ?? ""), component: componentOf(element?.initializer) })
      }
    }
    if (ts.isObjectLiteralExpression(node)) {
      let path: string | undefined
      let component: string | null = null
      let hasTarget = false
      for (const property of node.properties) {
        if (!ts.isPropertyAssignment(property) && !ts.isShorthandPropertyAssignment(property)) continue
        const key = property.name.getText().replace(/^["']|["']$/g, "")
        if (key === "path" && ts.isPropertyAssignment(property)) path = stringOf(property.initializer)
        if (key === "element" || key === "component" || key === "Component") {
          hasTarget = true
          component = ts.isPropertyAssignment(property)
            ? componentOf(property.initializer)
            : property.name.getText()
        }
        if (key === "children" || key === "lazy" || key === "loader" || key === "getParentRoute")
          hasTarget = true
      }
      if (path !== undefined && hasTarget) out.routes.push({ path: routePath(path), component })
    }
    ts.forEachChild(node, (child) => visit(child, inClass))
  }
  for (const node of nodes) visit(node, false)
  return out
}

const containsJsx = (node: ts.Node): boolean => {
  let found = false
  const visit = (child: ts.Node): void => {
    if (found) return
    if (ts.isJsxElement(child) || ts.isJsxSelfClosingElement(child) || ts.isJsxFragment(child)) {
      found = true
      return
    }
    ts.forEachChild(child, visit)
  }
  visit(node)
  return found
}

/** An indented outline of the JSX trees under `node`, with short text snippets. */
const jsxOutline = (node: ts.Node, limit = 40): Array<string> => {
  const lines: Array<string> = []
  const visit = (child: ts.Node, depth: number): void => {
    if (lines.length >= limit) return
    if (ts.isJsxElement(child) || ts.isJsxSelfClosingElement(child) || ts.isJsxFragment(child)) {
      const opening = ts.isJsxElement(child)
        ? child.openingElement
        : ts.isJsxSelfClosingElement(child)
          ? child
          : null
      const name = opening === null ? "" : tagName(opening.tagName)
      const id = opening === null ? undefined : stringOf(jsxAttribute(opening, "id")?.initializer)
      const texts = ts.isJsxSelfClosingElement(child)
        ? []
        : child.children
            .filter(ts.isJsxText)
            .map((text) => squash(text.text))
            .filter(Boolean)
      const text = texts.join(" ")
      lines.push(
        `${"  ".repeat(depth)}<${name}${id !== undefined ? ` id="${id}"` : ""}>${text !== "" ? ` ${text.length > 60 ? `${text.slice(0, 57)}…` : text}` : ""}`
      )
      if (!ts.isJsxSelfClosingElement(child)) {
        for (const grandChild of child.children) visit(grandChild, depth + 1)
      }
      return
    }
    ts.forEachChild(child, (grandChild) => visit(grandChild, depth))
  }
  visit(node, 0)
  if (lines.length >= limit) lines.push("…")
  return lines
}

interface FunctionLike {
  readonly node: ts.FunctionLikeDeclaration | ts.ClassLikeDeclaration
  readonly body: ts.Node | undefined
}

/** Unwraps `memo(forwardRef(function X() {}))`, `React.memo(() => …)` and parentheses to the function. */
const unwrapFunction = (expression: ts.Expression | undefined): FunctionLike | undefined => {
  if (expression === undefined) return undefined
  if (
    ts.isParenthesizedExpression(expression) ||
    ts.isAsExpression(expression) ||
    ts.isSatisfiesExpression(expression)
  )
    return unwrapFunction(expression.expression)
  if (ts.isArrowFunction(expression) || ts.isFunctionExpression(expression))
    return { node: expression, body: expression.body }
  if (ts.isClassExpression(expression)) return { node: expression, body: expression }
  if (ts.isCallExpression(expression)) {
    const callee = calleeName(expression.expression)
    if (callee !== undefined && wrapperCalls.has(callee)) {
      for (const argument of expression.arguments) {
        const inner = unwrapFunction(argument)
        if (inner !== undefined) return inner
      }
    }
  }
  return undefined
}

const isReactClass = (node: ts.ClassLikeDeclaration): boolean => {
  const heritage = node.heritageClauses?.some((clause) =>
    clause.types.some((type) => /(?:^|\.)(?:Pure)?Component$/.test(type.expression.getText()))
  )
  return heritage === true || (containsJsx(node) && node.members.some((m) => m.name?.getText() === "render"))
}

const hasExportModifier = (node: ts.Node): boolean =>
  ts.canHaveModifiers(node) &&
  (ts.getModifiers(node)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword) ?? false)

const isDefaultExport = (node: ts.Node): boolean =>
  ts.canHaveModifiers(node) &&
  (ts.getModifiers(node)?.some((m) => m.kind === ts.SyntaxKind.DefaultKeyword) ?? false)

const chunkScript = (file: Indexer.SourceFile, language: Language, options: Options): Array<Draft> => {
  const kind =
    language === "tsx"
      ? ts.ScriptKind.TSX
      : language === "jsx"
        ? ts.ScriptKind.JSX
        : language === "js"
          ? ts.ScriptKind.JSX
          : ts.ScriptKind.TS
  const source = ts.createSourceFile(file.path, file.content, ts.ScriptTarget.Latest, true, kind)
  const maxComponentLines = options.maxComponentLines ?? 120
  const maxHeaderLines = options.maxHeaderLines ?? 80
  const lineOf = (position: number): number => source.getLineAndCharacterOfPosition(position).line + 1
  const startOf = (node: ts.Node): number => node.getStart(source, true)
  const textOf = (node: ts.Node): string => file.content.slice(startOf(node), node.getEnd())
  const lines = file.content.split("\n")
  const sliceLines = (start: number, end: number): string => lines.slice(start - 1, end).join("\n")

  const drafts: Array<Draft> = []
  const header: Array<ts.Statement> = []
  const imports: Array<string> = []
  const bindings: Record<string, string> = {}
  const exportedNames = new Set<string>()
  let defaultExportName: string | undefined
  let typeGroup: Array<ts.Statement> = []

  const flushTypes = () => {
    if (typeGroup.length === 0) return
    const first = typeGroup[0]!
    const last = typeGroup[typeGroup.length - 1]!
    const names = typeGroup.map((s) => (s as ts.DeclarationStatement).name?.getText() ?? "type")
    const collected = collect(typeGroup)
    drafts.push({
      kind: "types",
      name: names.length > 4 ? `${names.slice(0, 4).join(", ")}, …` : names.join(", "),
      exported: typeGroup.some(hasExportModifier),
      startLine: lineOf(startOf(first)),
      endLine: lineOf(last.getEnd()),
      text: file.content.slice(startOf(first), last.getEnd()),
      parent: null,
      metadata: {
        ...emptyMetadata(),
        literals: uniq(collected.literals),
        signature: names.map((n) => `type ${n}`).join("; "),
        skeleton: typeGroup.map((s) => squash(textOf(s)).slice(0, 160)).join("\n")
      }
    })
    typeGroup = []
  }

  const signatureOf = (statement: ts.Node, body: ts.Node | undefined): string => {
    const start = startOf(statement)
    const end = body !== undefined && body !== statement ? body.getStart(source) : statement.getEnd()
    const text = squash(file.content.slice(start, end).replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, ""))
    return text.length > 240 ? `${text.slice(0, 237)}…` : text
  }

  const metadataOf = (
    nodes: ReadonlyArray<ts.Node>,
    signature: string,
    skeletonFrom: ts.Node
  ): ChunkMetadata => {
    const collected = collect(nodes)
    const outline = jsxOutline(skeletonFrom)
    return {
      ...emptyMetadata(),
      jsxText: uniq(collected.jsxText),
      literals: uniq(collected.literals),
      classNames: uniq(collected.classNames),
      renders: uniq(collected.renders),
      routes: uniq(collected.routes, 100),
      signature,
      skeleton: [signature, ...outline].join("\n")
    }
  }

  /** The pieces of an oversized component's body: statements, and the JSX root's children. */
  const segmentsOf = (body: ts.Node | undefined): Array<ts.Node> => {
    if (body === undefined) return []
    if (ts.isClassLike(body)) return [...body.members]
    const jsxChildren = (expression: ts.Expression | undefined): Array<ts.Node> | undefined => {
      let e = expression
      while (e !== undefined && ts.isParenthesizedExpression(e)) e = e.expression
      if (e !== undefined && (ts.isJsxElement(e) || ts.isJsxFragment(e))) {
        const children = e.children.filter((c) => !(ts.isJsxText(c) && c.text.trim() === ""))
        return children.length > 1 ? children : undefined
      }
      return undefined
    }
    if (!ts.isBlock(body)) return jsxChildren(body as ts.Expression) ?? [body]
    const out: Array<ts.Node> = []
    for (const statement of body.statements) {
      const children = ts.isReturnStatement(statement) ? jsxChildren(statement.expression) : undefined
      if (children !== undefined) out.push(...children)
      else out.push(statement)
    }
    return out
  }

  const addDeclaration = (
    statement: ts.Statement,
    name: string,
    fn: FunctionLike | undefined,
    exported: boolean
  ): void => {
    const isClass = fn !== undefined && ts.isClassLike(fn.node)
    const jsx = containsJsx(statement)
    const kind: Indexer.ChunkKind = isClass
      ? isReactClass(fn.node as ts.ClassLikeDeclaration)
        ? "component"
        : "class"
      : /^use[A-Z0-9]/.test(name)
        ? "hook"
        : jsx && /^[A-Z]/.test(name)
          ? "component"
          : "function"
    const startLine = lineOf(startOf(statement))
    const endLine = lineOf(statement.getEnd())
    const signature = signatureOf(statement, isClass ? undefined : fn?.body)
    const classSignature = isClass ? squash(textOf(statement).split("{")[0] ?? "") : signature
    const metadata = metadataOf([statement], classSignature, statement)
    if (kind !== "component" || endLine - startLine + 1 <= maxComponentLines) {
      drafts.push({
        kind,
        name,
        exported,
        startLine,
        endLine,
        text: textOf(statement),
        parent: null,
        metadata
      })
      return
    }
    // Oversized component: a collapsed parent (signature + JSX outline) and children holding the body.
    const parent: Draft = {
      kind,
      name,
      exported,
      startLine,
      endLine,
      text: `${metadata.skeleton}\n// … ${endLine - startLine + 1} lines, split into parts`,
      parent: null,
      metadata: { ...metadata, jsxText: [], literals: [], classNames: [] }
    }
    drafts.push(parent)
    const budget = Math.max(20, Math.floor(maxComponentLines / 2))
    let group: Array<ts.Node> = []
    let part = 0
    const flush = () => {
      if (group.length === 0) return
      const first = lineOf(startOf(group[0]!))
      const last = lineOf(group[group.length - 1]!.getEnd())
      const collected = collect(group)
      part += 1
      drafts.push({
        kind,
        name,
        exported,
        startLine: first,
        endLine: last,
        text: sliceLines(first, last),
        parent,
        metadata: {
          ...emptyMetadata(),
          jsxText: uniq(collected.jsxText),
          literals: uniq(collected.literals),
          classNames: uniq(collected.classNames),
          renders: uniq(collected.renders),
          routes: uniq(collected.routes, 100),
          signature,
          skeleton: `${signature} (part ${part})`,
          part
        }
      })
      group = []
    }
    for (const segment of segmentsOf(fn?.body)) {
      const first = group[0]
      if (first !== undefined && lineOf(segment.getEnd()) - lineOf(startOf(first)) + 1 > budget) flush()
      group.push(segment)
    }
    flush()
  }

  for (const statement of source.statements) {
    const isType =
      ts.isTypeAliasDeclaration(statement) ||
      ts.isInterfaceDeclaration(statement) ||
      ts.isEnumDeclaration(statement)
    if (isType) {
      typeGroup.push(statement)
      continue
    }
    flushTypes()

    if (ts.isImportDeclaration(statement) || ts.isExportDeclaration(statement)) {
      header.push(statement)
      const specifier = statement.moduleSpecifier
      if (specifier !== undefined && ts.isStringLiteral(specifier)) {
        const target = resolveImport(file.path, specifier.text, options)
        imports.push(target)
        if (ts.isImportDeclaration(statement)) {
          const clause = statement.importClause
          if (clause?.name !== undefined) bindings[clause.name.text] = target
          const named = clause?.namedBindings
          if (named !== undefined && ts.isNamedImports(named))
            for (const element of named.elements) bindings[element.name.text] = target
          if (named !== undefined && ts.isNamespaceImport(named)) bindings[named.name.text] = target
        }
      } else if (
        ts.isExportDeclaration(statement) &&
        statement.exportClause &&
        ts.isNamedExports(statement.exportClause)
      ) {
        for (const element of statement.exportClause.elements)
          exportedNames.add(element.propertyName?.text ?? element.name.text)
      }
      continue
    }

    if (ts.isFunctionDeclaration(statement)) {
      const isDefault = isDefaultExport(statement)
      const name = statement.name?.text ?? pascal(baseName(file.path))
      if (isDefault) defaultExportName = name
      addDeclaration(statement, name, { node: statement, body: statement.body }, hasExportModifier(statement))
      continue
    }

    if (ts.isClassDeclaration(statement)) {
      const name = statement.name?.text ?? pascal(baseName(file.path))
      addDeclaration(statement, name, { node: statement, body: statement }, hasExportModifier(statement))
      continue
    }

    if (ts.isVariableStatement(statement)) {
      const declarations = statement.declarationList.declarations
      const first = declarations[0]
      const fn = declarations.length === 1 ? unwrapFunction(first?.initializer) : undefined
      if (first !== undefined && fn !== undefined && ts.isIdentifier(first.name)) {
        addDeclaration(statement, first.name.text, fn, hasExportModifier(statement))
        continue
      }
      header.push(statement)
      continue
    }

    if (ts.isExportAssignment(statement)) {
      const expression = statement.expression
      const fn = unwrapFunction(expression)
      if (fn !== undefined) {
        const inner = fn.node.name?.getText()
        const name = inner ?? pascal(baseName(file.path))
        defaultExportName = name
        addDeclaration(statement, name, fn, true)
        continue
      }
      // `export default Hero`, `export default memo(Hero)`: marks Hero exported.
      let target: ts.Expression = expression
      while (ts.isCallExpression(target) && target.arguments[0] !== undefined) target = target.arguments[0]
      if (ts.isIdentifier(target)) {
        exportedNames.add(target.text)
        defaultExportName = target.text
      }
      header.push(statement)
      continue
    }

    header.push(statement)
  }
  flushTypes()

  for (const draft of drafts) {
    if (exportedNames.has(draft.name) || draft.name === defaultExportName) draft.exported = true
  }

  // Header chunks: imports and the remaining top-level statements, split when long.
  if (header.length > 0) {
    const groups: Array<Array<ts.Statement>> = [[]]
    for (const statement of header) {
      const group = groups[groups.length - 1]!
      const start = group[0]
      if (
        start !== undefined &&
        lineOf(statement.getEnd()) - lineOf(startOf(start)) + 1 > maxHeaderLines &&
        !ts.isImportDeclaration(statement)
      )
        groups.push([statement])
      else group.push(statement)
    }
    const headerDrafts = groups.map((group, index): Draft => {
      const first = group[0]!
      const last = group[group.length - 1]!
      const collected = collect(group)
      const skeleton = group
        .filter((s) => !ts.isImportDeclaration(s))
        .map((s) => squash(textOf(s)).slice(0, 120))
        .slice(0, 20)
      return {
        kind: "header",
        name: index === 0 ? baseName(file.path) : `${baseName(file.path)} (${index + 1})`,
        exported: group.some(
          (s) => hasExportModifier(s) || ts.isExportAssignment(s) || ts.isExportDeclaration(s)
        ),
        startLine: lineOf(startOf(first)),
        endLine: lineOf(last.getEnd()),
        text: group.map(textOf).join("\n"),
        parent: null,
        metadata: {
          ...emptyMetadata(),
          jsxText: uniq(collected.jsxText),
          literals: uniq(collected.literals),
          classNames: uniq(collected.classNames),
          renders: uniq(collected.renders),
          routes: uniq(collected.routes, 200),
          imports: index === 0 ? uniq(imports) : [],
          bindings: index === 0 ? bindings : {},
          signature: "",
          skeleton: skeleton.join("\n")
        }
      }
    })
    drafts.unshift(...headerDrafts)
  }
  if (drafts.length === 0 && file.content.trim() !== "") return [fileDraft(file)]
  return drafts
}

// ---------------------------------------------------------------------------------------------------------
// CSS, Markdown, HTML, other files
// ---------------------------------------------------------------------------------------------------------

const fileDraft = (file: Indexer.SourceFile): Draft => {
  const text = file.content.length > 20_000 ? `${file.content.slice(0, 20_000)}\n…` : file.content
  return {
    kind: "file",
    name: baseName(file.path),
    exported: false,
    startLine: 1,
    endLine: Math.max(1, file.content.split("\n").length),
    text,
    parent: null,
    metadata: { ...emptyMetadata(), skeleton: file.path }
  }
}

interface CssBlock {
  readonly start: number
  readonly end: number
  readonly prelude: string
}

/** Top-level blocks (rules, at-rules with bodies, `@import …;` statements) of a CSS text. */
const cssBlocks = (text: string, from = 0, to = text.length): Array<CssBlock> => {
  const blocks: Array<CssBlock> = []
  let depth = 0
  let start = from
  let preludeEnd = -1
  let i = from
  const skipSpace = () => {
    while (i < to) {
      if (/\s/.test(text[i]!)) i++
      else if (text.startsWith("/*", i)) {
        const close = text.indexOf("*/", i + 2)
        i = close < 0 ? to : close + 2
      } else break
    }
  }
  skipSpace()
  start = i
  while (i < to) {
    const c = text[i]!
    if (text.startsWith("/*", i)) {
      const close = text.indexOf("*/", i + 2)
      i = close < 0 ? to : close + 2
      continue
    }
    if (c === '"' || c === "'") {
      const close = text.indexOf(c, i + 1)
      i = close < 0 ? to : close + 1
      continue
    }
    if (c === "{") {
      if (depth === 0) preludeEnd = i
      depth++
    } else if (c === "}") {
      depth--
      if (depth <= 0) {
        depth = 0
        blocks.push({
          start,
          end: i + 1,
          prelude: squash(text.slice(start, preludeEnd < 0 ? i : preludeEnd))
        })
        i++
        skipSpace()
        start = i
        preludeEnd = -1
        continue
      }
    } else if (c === ";" && depth === 0) {
      blocks.push({ start, end: i + 1, prelude: squash(text.slice(start, i)) })
      i++
      skipSpace()
      start = i
      continue
    }
    i++
  }
  if (start < to && text.slice(start, to).trim() !== "")
    blocks.push({ start, end: to, prelude: squash(text.slice(start, to)) })
  return blocks
}

const chunkCss = (file: Indexer.SourceFile, options: Options): Array<Draft> => {
  const text = file.content
  const maxLines = options.maxHeaderLines ?? 80
  const group = 30
  const lineStarts: Array<number> = [0]
  for (let i = 0; i < text.length; i++) if (text[i] === "\n") lineStarts.push(i + 1)
  const lineOf = (offset: number): number => {
    let lo = 0
    let hi = lineStarts.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      if (lineStarts[mid]! <= offset) lo = mid
      else hi = mid - 1
    }
    return lo + 1
  }
  // Units: top-level blocks; a long at-rule (@media …) is split into its inner rules, prefixed.
  const units: Array<{ start: number; end: number; name: string; within: number }> = []
  const imports: Array<string> = []
  for (const block of cssBlocks(text)) {
    if (
      block.prelude.startsWith("@import") ||
      block.prelude.startsWith("@use") ||
      block.prelude.startsWith("@forward")
    ) {
      const specifier = block.prelude.match(/["']([^"']+)["']|url\(\s*["']?([^"')]+)/)
      const target = specifier?.[1] ?? specifier?.[2]
      if (target !== undefined)
        imports.push(target.startsWith(".") ? normalize(`${dirname(file.path)}/${target}`) : target)
    }
    const lines = lineOf(block.end) - lineOf(block.start) + 1
    const open = text.indexOf("{", block.start)
    if (block.prelude.startsWith("@") && lines > maxLines && open >= 0 && open < block.end) {
      for (const inner of cssBlocks(text, open + 1, block.end - 1))
        units.push({
          start: inner.start,
          end: inner.end,
          name: `${block.prelude} ${inner.prelude}`,
          within: block.start
        })
    } else {
      units.push({ start: block.start, end: block.end, name: block.prelude, within: -1 })
    }
  }
  const drafts: Array<Draft> = []
  let current: Array<{ start: number; end: number; name: string; within: number }> = []
  const flush = () => {
    if (current.length === 0) return
    const first = current[0]!
    const last = current[current.length - 1]!
    const chunkText = text.slice(first.start, last.end)
    const selectors = current.map((u) => u.name)
    const classNames = uniq(
      selectors.flatMap((s) => [...s.matchAll(/\.([A-Za-z_][\w-]*)/g)].map((m) => m[1]!)),
      200
    )
    const literals = uniq([...chunkText.matchAll(/content:\s*["']([^"']+)["']/g)].map((m) => m[1]!))
    const name = selectors.join(", ")
    drafts.push({
      kind: "css-rule",
      name: name.length > 160 ? `${name.slice(0, 157)}…` : name,
      exported: false,
      startLine: lineOf(first.start),
      endLine: lineOf(last.end - 1),
      text: chunkText,
      parent: null,
      metadata: {
        ...emptyMetadata(),
        classNames,
        literals,
        imports: drafts.length === 0 ? uniq(imports) : [],
        skeleton: selectors.slice(0, 30).join("\n")
      }
    })
    current = []
  }
  for (const unit of units) {
    const first = current[0]
    // A group never straddles the edge of a split at-rule, so every chunk's braces balance.
    if (
      first !== undefined &&
      (first.within !== unit.within || lineOf(unit.end - 1) - lineOf(first.start) + 1 > group)
    )
      flush()
    current.push(unit)
  }
  flush()
  if (drafts.length === 0 && text.trim() !== "") return [fileDraft(file)]
  return drafts
}

const chunkMarkdown = (file: Indexer.SourceFile): Array<Draft> => {
  const lines = file.content.split("\n")
  const drafts: Array<Draft> = []
  let start = 0
  let name = baseName(file.path)
  let fence = false
  const flush = (end: number) => {
    const text = lines.slice(start, end).join("\n")
    if (text.trim() === "") return
    drafts.push({
      kind: "section",
      name,
      exported: false,
      startLine: start + 1,
      endLine: end,
      text,
      parent: null,
      metadata: { ...emptyMetadata(), skeleton: name }
    })
  }
  lines.forEach((line, index) => {
    if (/^\s*(```|~~~)/.test(line)) fence = !fence
    const heading = fence ? null : line.match(/^#{1,6}\s+(.*)$/)
    if (heading !== null && index > start) {
      flush(index)
      start = index
    }
    if (heading !== null) name = squash(heading[1]!.replace(/#+\s*$/, "")) || name
  })
  flush(lines.length)
  return drafts
}

const decodeEntities = (text: string): string =>
  text
    .replace(/&nbsp;/g, " ")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&#39;|&apos;/g, "'")
    .replace(/&copy;/g, "©")
    .replace(/&amp;/g, "&")

const htmlTextOf = (html: string): Array<string> =>
  html
    .replace(/<script[\s\S]*?<\/script>|<style[\s\S]*?<\/style>/gi, " ")
    .split(/<[^>]+>/)
    .map((t) => squash(decodeEntities(t)))
    .filter((t) => /[\p{L}\p{N}]/u.test(t))

const chunkHtml = (file: Indexer.SourceFile): Array<Draft> => {
  const lines = file.content.split("\n")
  const boundary = /<(header|nav|section|main|footer|article|aside|form|body)\b|<\/head>/i
  const starts: Array<number> = [0]
  lines.forEach((line, index) => {
    if (index > 0 && boundary.test(line) && index - starts[starts.length - 1]! >= 3) starts.push(index)
  })
  const drafts: Array<Draft> = []
  starts.forEach((start, i) => {
    const end = starts[i + 1] ?? lines.length
    const text = lines.slice(start, end).join("\n")
    if (text.trim() === "") return
    const id = text.match(/\bid=["']([^"']+)["']/)?.[1]
    const heading = text.match(/<h[1-3][^>]*>([\s\S]*?)<\/h[1-3]>/i)?.[1]
    const tag = text.match(boundary)?.[1]
    const name =
      squash(decodeEntities((heading ?? "").replace(/<[^>]+>/g, ""))) ||
      id ||
      tag ||
      (i === 0 ? "head" : `section ${i + 1}`)
    const classNames = uniq(
      [...text.matchAll(/\bclass=["']([^"']+)["']/g)].flatMap((m) => m[1]!.split(/\s+/).filter(Boolean)),
      200
    )
    drafts.push({
      kind: i === 0 && /<head\b/i.test(text) && !/<body\b/i.test(text) ? "header" : "section",
      name: name.length > 120 ? `${name.slice(0, 117)}…` : name,
      exported: false,
      startLine: start + 1,
      endLine: end,
      text,
      parent: null,
      metadata: { ...emptyMetadata(), jsxText: uniq(htmlTextOf(text)), classNames, skeleton: name }
    })
  })
  return drafts
}

/**
 * Chunks one file. Never fails: unknown formats become one `file` chunk, empty files no chunk.
 *
 * @since 0.1.0
 */
export const chunkFile = (file: Indexer.SourceFile, options: Options = {}): Array<Indexer.Chunk> => {
  if (file.content.trim() === "") return []
  const language = languageOf(file.path)
  switch (language) {
    case "ts":
    case "tsx":
    case "js":
    case "jsx":
      return finish(file.path, chunkScript(file, language, options))
    case "css":
      return finish(file.path, chunkCss(file, options))
    case "markdown":
      return finish(file.path, chunkMarkdown(file))
    case "html":
      return finish(file.path, chunkHtml(file))
    default:
      return finish(file.path, [fileDraft(file)])
  }
}

/**
 * A chunk's metadata as the typed {@link ChunkMetadata} (missing fields are empty).
 *
 * @since 0.1.0
 */
export const metadataOf = (chunk: Indexer.Chunk): ChunkMetadata => ({
  ...emptyMetadata(),
  ...(chunk.metadata as unknown as Partial<ChunkMetadata>)
})
