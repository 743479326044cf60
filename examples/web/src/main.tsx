import { LatheProvider } from "@lathe/react"
import { StrictMode } from "react"
import { createRoot } from "react-dom/client"
import { App } from "./App.js"
import "./styles.css"

const root = document.getElementById("root")
if (root === null) throw new Error("index.html has no #root element")

createRoot(root).render(
  <StrictMode>
    {/* The UI is served by the Lathe host itself, so the API is on the same origin. */}
    <LatheProvider baseUrl="">
      <App />
    </LatheProvider>
  </StrictMode>
)
