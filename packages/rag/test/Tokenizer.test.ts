import { describe, expect, it } from "@effect/vitest"
import { pathTokens, queryTokens, splitIdentifier, stem, tokenize } from "../src/Tokenizer.js"

describe("Tokenizer", () => {
  it("splits camelCase, PascalCase, acronyms, snake_case, kebab-case and digits", () => {
    expect(splitIdentifier("heroSection")).toEqual(["hero", "section"])
    expect(splitIdentifier("ContactForm")).toEqual(["contact", "form"])
    expect(splitIdentifier("HTMLParser")).toEqual(["html", "parser"])
    expect(splitIdentifier("useOpeningHours")).toEqual(["use", "opening", "hours"])
    expect(splitIdentifier("hero_section_title")).toEqual(["hero", "section", "title"])
    expect(splitIdentifier("hero-section")).toEqual(["hero", "section"])
    expect(splitIdentifier("Card2")).toEqual(["card", "2"])
    expect(splitIdentifier("h1")).toEqual(["h", "1"])
    expect(splitIdentifier("$store")).toEqual(["store"])
  })

  it("keeps compounds whole as well as split, so both spellings match", () => {
    expect(tokenize("site-header py-24")).toEqual(["site", "header", "siteheader", "py", "24", "py24"])
    const tokens = tokenize("<ContactForm onSubmit={send} />")
    expect(tokens).toContain("contactform")
    expect(tokens).toContain("contact")
    expect(tokens).toContain("form")
    expect(tokens).toContain("onsubmit")
  })

  it("splits paths into directory and file-name parts without the extension", () => {
    expect(pathTokens("src/components/site-header/NavBar.tsx")).toEqual([
      "src",
      "components",
      "site",
      "header",
      "siteheader",
      "nav",
      "bar",
      "navbar"
    ])
  })

  it("drops stopwords and intent words from requests, keeps order and digits", () => {
    expect(queryTokens("Please change the hero headline on the about page to 2 lines")).toEqual([
      "hero",
      "headline",
      "about",
      "page",
      "2",
      "lines"
    ])
  })

  it("stems plurals and common endings the same way for documents and queries", () => {
    expect(stem("buttons")).toBe("button")
    expect(stem("categories")).toBe("category")
    expect(stem("boxes")).toBe("box")
    expect(stem("class")).toBe("class")
    expect(stem("loading")).toBe("load")
    expect(stem("status")).toBe("status")
  })
})
