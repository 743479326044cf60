import react from "@vitejs/plugin-react"
import { defaultClientConditions, defineConfig } from "vite"

/** Where `pnpm dev` forwards API calls (the reference host started with `pnpm start` / `lathe serve`). */
const target = process.env.LATHE_URL ?? "http://127.0.0.1:3100"

export default defineConfig({
  plugins: [react()],
  // Resolve workspace packages (@lathe/react, @lathe/core) to their TypeScript sources, so this app builds
  // without building them first.
  resolve: { conditions: ["@lathe/source", ...defaultClientConditions] },
  server: {
    proxy: { "/healthz": target, "/readyz": target, "/api": target }
  },
  build: { sourcemap: true }
})
