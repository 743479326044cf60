/**
 * `http.fetch` and `scrape.url`: outbound HTTP through the SSRF guard (see `fetch.ts`).
 *
 * @internal
 */
import { Errors, ToolRegistry } from "@lathe/core"
import * as cheerio from "cheerio"
import { Effect, Schema } from "effect"
import { guardedFetch, isTextual } from "./fetch.js"
import { type Deps, utf8 } from "./shared.js"

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
const DROPPED = new Set([
  "host",
  "content-length",
  "connection",
  "transfer-encoding",
  "upgrade",
  "te",
  "trailer"
])

const Url = Schema.String.annotations({ description: "An absolute http:// or https:// URL" })

export const httpFetch = (deps: Deps) =>
  ToolRegistry.define({
    name: "http.fetch",
    description:
      "Fetch a public http(s) URL and return its status, headers and body (text, or base64 for binary content). Redirects are followed (at most 5). Private, loopback and cloud-metadata addresses are refused.",
    input: Schema.Struct({
      url: Url,
      method: Schema.optional(Schema.Literal("GET", "HEAD", "POST")),
      headers: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String })),
      body: Schema.optional(Schema.String.annotations({ description: "Request body (POST only)" })),
      maxBytes: Schema.optional(
        Schema.Int.pipe(Schema.between(1, 10 * 1024 * 1024)).annotations({
          description: "Keep at most this many bytes of the body"
        })
      )
    }),
    output: Schema.Struct({
      url: Schema.String,
      status: Schema.Int,
      headers: Schema.Record({ key: Schema.String, value: Schema.String }),
      encoding: Schema.Literal("utf8", "base64"),
      body: Schema.String,
      truncated: Schema.Boolean,
      redirects: Schema.Array(Schema.String)
    }),
    sideEffect: "external",
    capability: "net.fetch",
    timeout: "60 seconds",
    cost: 3,
    run: (input, context) =>
      Effect.gen(function* () {
        const method = input.method ?? "GET"
        const headers: Record<string, string> = {}
        const fields: Record<string, string> = {}
        for (const [name, value] of Object.entries(input.headers ?? {})) {
          if (!HEADER_NAME.test(name)) fields[`input.headers.${name}`] = "invalid header name"
          else if (/[\r\n\0]/.test(value))
            fields[`input.headers.${name}`] = "header values may not contain CR, LF or NUL"
          else if (!DROPPED.has(name.toLowerCase())) headers[name] = value
        }
        if (input.body !== undefined && method !== "POST") fields["input.body"] = "a body needs method POST"
        if (Object.keys(fields).length > 0) {
          return yield* new Errors.ValidationError({ message: "invalid http.fetch request", fields })
        }
        const response = yield* guardedFetch(deps.policy, {
          tool: "http.fetch",
          url: input.url,
          method,
          headers,
          ...(input.body !== undefined ? { body: input.body } : {}),
          maxBytes: Math.min(input.maxBytes ?? deps.options.fetchMaxBytes, deps.options.fetchMaxBytes),
          maxRedirects: deps.options.fetchMaxRedirects,
          timeoutMs: deps.options.fetchTimeoutMs,
          signal: context.signal
        })
        const text = isTextual(response.headers["content-type"]) ? utf8(response.body) : undefined
        return {
          url: response.url,
          status: response.status,
          headers: response.headers,
          encoding: text === undefined ? ("base64" as const) : ("utf8" as const),
          body: text ?? Buffer.from(response.body).toString("base64"),
          truncated: response.truncated,
          redirects: response.redirects
        }
      })
  })

const BLOCKS =
  "address, article, aside, blockquote, dd, div, dl, dt, fieldset, figcaption, figure, footer, form, h1, h2, h3, h4, h5, h6, header, hr, li, main, nav, ol, p, pre, section, table, td, th, tr, ul, a, button, label, option"

const collapse = (text: string) => text.replace(/\s+/g, " ").trim()

export const scrapeUrl = (deps: Deps) =>
  ToolRegistry.define({
    name: "scrape.url",
    description:
      "Fetch a public web page and extract its title, meta description, headings, visible text, links and images (URLs made absolute). Use it to understand a site before rebuilding it.",
    input: Schema.Struct({
      url: Url,
      maxTextChars: Schema.optional(Schema.Int.pipe(Schema.between(100, 200_000))),
      maxLinks: Schema.optional(Schema.Int.pipe(Schema.between(0, 2000)))
    }),
    output: Schema.Struct({
      url: Schema.String,
      status: Schema.Int,
      title: Schema.String,
      description: Schema.String,
      headings: Schema.Array(Schema.Struct({ level: Schema.Int, text: Schema.String })),
      text: Schema.String,
      links: Schema.Array(Schema.Struct({ href: Schema.String, text: Schema.String })),
      images: Schema.Array(Schema.Struct({ src: Schema.String, alt: Schema.String }))
    }),
    sideEffect: "external",
    capability: "net.fetch",
    timeout: "60 seconds",
    cost: 3,
    run: (input, context) =>
      Effect.gen(function* () {
        const response = yield* guardedFetch(deps.policy, {
          tool: "scrape.url",
          url: input.url,
          method: "GET",
          headers: { accept: "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1" },
          maxBytes: deps.options.fetchMaxBytes,
          maxRedirects: deps.options.fetchMaxRedirects,
          timeoutMs: deps.options.fetchTimeoutMs,
          signal: context.signal
        })
        const type = response.headers["content-type"] ?? ""
        const html = utf8(response.body) ?? new TextDecoder().decode(response.body)
        if (type !== "" && !/html|xml/i.test(type)) {
          return yield* new Errors.ToolError({
            tool: "scrape.url",
            message: `the page is '${type.split(";")[0]}', not HTML: use http.fetch for other content`,
            code: "NOT_HTML",
            retryable: false
          })
        }
        const $ = cheerio.load(html)
        const base = response.url
        const absolute = (value: string | undefined) => {
          if (value === undefined || value.trim() === "") return undefined
          try {
            const url = new URL(value.trim(), base)
            return url.protocol === "http:" || url.protocol === "https:" ? url.href : undefined
          } catch {
            return undefined
          }
        }
        const maxLinks = input.maxLinks ?? 300
        const headings = $("h1, h2, h3, h4, h5, h6")
          .toArray()
          .map((el) => ({ level: Number(el.tagName.slice(1)), text: collapse($(el).text()) }))
          .filter((h) => h.text.length > 0)
          .slice(0, 200)
        const seen = new Set<string>()
        const links: Array<{ href: string; text: string }> = []
        for (const el of $("a[href]").toArray()) {
          const href = absolute($(el).attr("href"))
          if (href === undefined || seen.has(href)) continue
          seen.add(href)
          links.push({ href, text: collapse($(el).text()).slice(0, 200) })
          if (links.length >= maxLinks) break
        }
        const images: Array<{ src: string; alt: string }> = []
        for (const el of $("img[src]").toArray()) {
          const src = absolute($(el).attr("src"))
          if (src === undefined) continue
          images.push({ src, alt: collapse($(el).attr("alt") ?? "").slice(0, 300) })
          if (images.length >= maxLinks) break
        }
        const title = collapse($("title").first().text())
        const description =
          $('meta[name="description"]').attr("content") ??
          $('meta[property="og:description"]').attr("content") ??
          ""
        $("script, style, noscript, template, svg").remove()
        // Block boundaries (and links, buttons) separate words in the extracted text.
        $(BLOCKS).each((_, el) => {
          $(el).prepend(" ").append(" ")
        })
        $("br").replaceWith(" ")
        const text = collapse($("body").length > 0 ? $("body").text() : $.root().text())
        const maxText = input.maxTextChars ?? 20_000
        return {
          url: response.url,
          status: response.status,
          title,
          description: collapse(description),
          headings,
          text: text.length > maxText ? `${text.slice(0, maxText)}…` : text,
          links,
          images
        }
      })
  })
