/**
 * The trustless-gateway spec's probe (`GET /ipfs/bafkqaaa` as a raw block and as a CAR: the empty identity CID, which
 * a trustless gateway answers without looking anything up), run against each configured gateway so an operator learns
 * before the first job which of them can serve verifiable inputs.
 */
import type { Logger } from "../log/mod.ts";
import { ingestCar } from "./car_ingest.ts";
import { type Gateway, gatewayName } from "./fetch_input.ts";
import { fetchWithTimeouts } from "./http_fetch.ts";
import { CAR_TYPE, mediaType, RAW_TYPE } from "./trustless_response.ts";

/** The spec's probe CID: identity multihash, raw codec, no bytes. */
export const PROBE_CID = "bafkqaaa";

/**
 * What a gateway is, by its answers: `trustless` (raw blocks and CARs as the spec says), `raw_only` (raw blocks; CAR
 * requests turned down), `not_trustless` (a 200 that is neither: the deserialized content or a web page), `refused`
 * (HTTP 401/403: a restricted or keyed gateway), `no_probe` (another HTTP answer: it may serve pinned content only),
 * `unreachable` (no answer).
 */
export type ProbeVerdict = "trustless" | "raw_only" | "not_trustless" | "refused" | "no_probe" | "unreachable";

/** One of the two probe requests. */
export interface ProbeAnswer {
  /** HTTP status, when it answered. */
  status?: number;
  /** Media type of the answer (`""` when none). */
  contentType?: string;
  /** Whether the answer is what the spec requires. */
  ok: boolean;
  /** What was wrong, in words. */
  problem?: string;
}

/** The probe of one gateway. */
export interface GatewayProbe {
  /** The gateway's origin (never a key or query). */
  gateway: string;
  verdict: ProbeVerdict;
  raw: ProbeAnswer;
  car: ProbeAnswer;
  /** One line for logs and the doctor. */
  summary: string;
}

/** Options of {@linkcode probeGateway}. */
export interface ProbeOptions {
  /** Per request, until the answer is complete; default 10 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Probes one gateway with `?format=raw` and `?format=car` of `bafkqaaa`. Never throws (but on an abort). */
export async function probeGateway(gateway: Gateway, options: ProbeOptions = {}): Promise<GatewayProbe> {
  const [raw, car] = await Promise.all([ask(gateway, "raw", options), ask(gateway, "car", options)]);
  options.signal?.throwIfAborted();
  const verdict = judge(raw, car);
  return { gateway: gatewayName(gateway.url), verdict, raw, car, summary: describe(verdict, raw, car) };
}

/** Probes every gateway at once; results in the order given. */
export function probeGateways(gateways: Gateway[], options: ProbeOptions = {}): Promise<GatewayProbe[]> {
  return Promise.all(gateways.map((g) => probeGateway(g, options)));
}

/**
 * Probes every gateway and logs the outcome: a warning for each gateway inputs will not come from (or may not), one
 * info line when all speak the protocol. For start-up: never throws, never delays anything that does not await it.
 */
export async function logGatewayProbes(
  gateways: Gateway[],
  logger: Logger,
  options: ProbeOptions = {},
): Promise<GatewayProbe[]> {
  let probes: GatewayProbe[];
  try {
    probes = await probeGateways(gateways, options);
  } catch {
    return []; // aborted: start-up is ending
  }
  for (const p of probes) {
    if (p.verdict === "trustless" || p.verdict === "raw_only") continue;
    logger.warn(`IPFS gateway ${p.gateway} ${p.summary}`, {
      gateway: p.gateway,
      verdict: p.verdict,
      raw_status: p.raw.status,
      raw_content_type: p.raw.contentType,
      car_status: p.car.status,
      car_content_type: p.car.contentType,
    });
  }
  const good = probes.filter((p) => p.verdict === "trustless" || p.verdict === "raw_only");
  if (good.length === 0 && probes.length > 0) {
    logger.warn("No configured IPFS gateway answered the trustless-gateway probe: job inputs may not be fetched", {
      fix: "add a trustless gateway to IPFS_GATEWAYS, e.g. https://trustless-gateway.link",
    });
  } else if (good.length === probes.length) {
    logger.info("IPFS gateways speak the trustless-gateway protocol", { gateways: good.map((p) => p.gateway) });
  }
  return probes;
}

async function ask(gateway: Gateway, format: "raw" | "car", options: ProbeOptions): Promise<ProbeAnswer> {
  const url = `${gateway.url.replace(/\/+$/, "")}/ipfs/${PROBE_CID}?format=${format}`;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const deadline = AbortSignal.timeout(timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline;
  let status: number | undefined;
  let contentType: string | undefined;
  try {
    const res = await fetchWithTimeouts(url, {
      requestTimeoutMs: timeoutMs,
      inactivityTimeoutMs: timeoutMs,
      signal,
      headers: { ...gateway.headers, accept: format === "raw" ? RAW_TYPE : CAR_TYPE, "accept-encoding": "identity" },
    });
    status = res.response.status;
    contentType = mediaType(res.response.headers.get("content-type"));
    if (!res.response.ok) {
      res.close();
      return { status, contentType, ok: false, problem: `HTTP ${status}` };
    }
    const wanted = format === "raw" ? RAW_TYPE : CAR_TYPE;
    if (contentType !== wanted) {
      res.close();
      return { status, contentType, ok: false, problem: `Content-Type ${contentType || "(none)"}` };
    }
    if (format === "raw") {
      let size = 0;
      for await (const chunk of res.body) {
        size += chunk.byteLength;
        if (size > 0) break;
      }
      res.close();
      return size === 0 ? { status, contentType, ok: true } : { status, contentType, ok: false, problem: "a body" };
    }
    const car = await ingestCar(res.body, { put: () => Promise.resolve() }, { maxCarBytes: 64 * 1024 }).finally(() =>
      res.close()
    );
    if (car.truncated) return { status, contentType, ok: false, problem: "an incomplete CAR" };
    return { status, contentType, ok: true };
  } catch (error) {
    if (options.signal?.aborted) throw options.signal.reason;
    return { status, contentType, ok: false, problem: (error as Error).message || String(error) };
  }
}

function judge(raw: ProbeAnswer, car: ProbeAnswer): ProbeVerdict {
  if (raw.ok && car.ok) return "trustless";
  const served = (a: ProbeAnswer) => a.status !== undefined && a.status >= 200 && a.status < 300;
  if ((served(raw) && !raw.ok) || (served(car) && !car.ok)) return "not_trustless";
  if (raw.ok) return "raw_only";
  if ([raw.status, car.status].some((s) => s === 401 || s === 403)) return "refused";
  if (raw.status !== undefined || car.status !== undefined) return "no_probe";
  return "unreachable";
}

function describe(verdict: ProbeVerdict, raw: ProbeAnswer, car: ProbeAnswer): string {
  const both = `?format=raw: ${raw.problem ?? "ok"}; ?format=car: ${car.problem ?? "ok"}`;
  switch (verdict) {
    case "trustless":
      return "speaks the trustless-gateway protocol (raw blocks and CARs)";
    case "raw_only":
      return `speaks the trustless-gateway protocol for raw blocks only (CAR: ${car.problem}); inputs come block by block`;
    case "not_trustless":
      return `does not speak the trustless-gateway protocol (${both}): it answers with the deserialized content or a ` +
        "web page, which cannot be verified; jobs skip it";
    case "refused":
      return `refused the probe (${both}): a restricted gateway, or one that needs its key (PINATA_GATEWAY_KEY)`;
    case "no_probe":
      return `did not answer the spec's probe (${both}); it may serve pinned content only, so whether it speaks the ` +
        "protocol shows at the first job";
    case "unreachable":
      return `did not answer (${raw.problem})`;
  }
}
