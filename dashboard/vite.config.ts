import { defineConfig } from "vite";
import solid from "vite-plugin-solid";

// The console the dev server forwards API, MCP and worker traffic to. The Host header is
// kept (no changeOrigin) so cookies and the worker start command name the dev origin.
const consoleUrl = process.env.DASHBOARD_CONSOLE_URL ?? "http://127.0.0.1:8089";

export default defineConfig({
  base: "/",
  plugins: [solid()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
  },
  server: {
    host: "127.0.0.1",
    port: Number(process.env.DASHBOARD_DEV_PORT ?? "5173"),
    proxy: {
      "/api": { target: consoleUrl },
      "/mcp": { target: consoleUrl },
      "/rpc": { target: consoleUrl, ws: true },
      "/healthz": { target: consoleUrl },
    },
  },
});
