/**
 * The operator HTTP endpoint: /healthz (alive), /readyz (every component up), /metrics (Prometheus), and, when the
 * agent gives its status, / (the status page) and /status.json (the same data for scripts).
 */
import { parseHostPort } from "../config/mod.ts";
import type { Logger } from "../log/mod.ts";
import type { AgentMetrics } from "./metrics.ts";
import type { NodeStatus } from "./node_status.ts";
import { renderStatusPage, STATUS_PAGE_CSP } from "./status_page.ts";

/** Readiness of each component, by name. */
export type Readiness = Record<string, { ready: boolean; detail?: string }>;

/** Options of {@linkcode startHttpServer}. */
export interface HttpServerOptions {
  /** `host:port`; port 0 picks a free one. */
  addr: string;
  metrics: AgentMetrics;
  readiness(): Readiness;
  /** The node's status document; without it `/` and `/status.json` answer 404. */
  status?: () => NodeStatus;
  logger: Logger;
  signal?: AbortSignal;
}

/** A running HTTP server. */
export interface HttpServer extends AsyncDisposable {
  /** The bound `host:port`. */
  addr: string;
  close(): Promise<void>;
}

/** Starts the server; it stops when `signal` aborts or `close()` is called. */
export function startHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  const { hostname, port } = parseHostPort(options.addr);
  const controller = new AbortController();
  options.signal?.addEventListener("abort", () => controller.abort(), { once: true });
  return new Promise((resolve, reject) => {
    let server: Deno.HttpServer<Deno.NetAddr>;
    try {
      server = Deno.serve({
        hostname,
        port,
        signal: controller.signal,
        onListen(addr) {
          const bound = `${addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname}:${addr.port}`;
          options.logger.info("HTTP endpoint listening", { addr: bound });
          resolve({
            addr: bound,
            async close() {
              controller.abort();
              await server.finished;
            },
            async [Symbol.asyncDispose]() {
              controller.abort();
              await server.finished;
            },
          });
        },
        onError(error) {
          options.logger.error("HTTP handler failed", { error: error as Error });
          return new Response("internal error\n", { status: 500 });
        },
      }, (req) => handle(req, options));
    } catch (error) {
      reject(new Error(`Cannot listen on HTTP_ADDR ${options.addr}: ${(error as Error).message}`, { cause: error }));
    }
  });
}

async function handle(req: Request, options: HttpServerOptions): Promise<Response> {
  if (req.method !== "GET" && req.method !== "HEAD") return new Response("method not allowed\n", { status: 405 });
  const path = new URL(req.url).pathname;
  if (path === "/healthz") return Response.json({ status: "ok" });
  if (path === "/readyz") {
    const components = options.readiness();
    const ready = Object.values(components).every((c) => c.ready);
    return Response.json({ status: ready ? "ready" : "not ready", components }, { status: ready ? 200 : 503 });
  }
  if (path === "/metrics") {
    return new Response(await options.metrics.render(), { headers: { "content-type": options.metrics.contentType } });
  }
  if (options.status && path === "/status.json") {
    return Response.json(options.status(), { headers: { "cache-control": "no-store" } });
  }
  if (options.status && (path === "/" || path === "/index.html")) {
    return new Response(renderStatusPage(options.status()), {
      headers: {
        "content-type": "text/html; charset=utf-8",
        "cache-control": "no-store",
        "content-security-policy": STATUS_PAGE_CSP,
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
      },
    });
  }
  return new Response("not found\n", { status: 404 });
}
