/** Chain errors, and decoding of contract reverts into readable messages. */
import { AbiCoder, type Interface, isHexString } from "ethers";

/** Something went wrong talking to the chain or the NodeReputation contract. */
export class ChainError extends Error {
  override name = "ChainError";
  /** The decoded revert, when the error is a contract revert. */
  readonly revert?: DecodedRevert;
  /** No endpoint answered: a condition that may pass (start-up waits and retries), not a wrong setting. */
  readonly unreachable: boolean;
  constructor(message: string, options?: { cause?: unknown; revert?: DecodedRevert; unreachable?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.revert = options?.revert;
    this.unreachable = options?.unreachable ?? false;
  }
}

/** A revert decoded through the ABI: a custom error, a reason string or a panic. */
export interface DecodedRevert {
  kind: "custom" | "reason" | "panic" | "unknown";
  /** Human-readable: `OwnableUnauthorizedAccount(0xabc…)`, `reason "Provider not registered"`, `panic 0x11`. */
  text: string;
  /** The custom error's name, when known. */
  name?: string;
  args?: unknown[];
  data?: string;
}

const REASON_SELECTOR = "0x08c379a0";
const PANIC_SELECTOR = "0x4e487b71";

/** Finds the revert data in an ethers or JSON-RPC error (they nest it at different depths). */
export function findRevertData(error: unknown, depth = 0): string | undefined {
  if (error === null || typeof error !== "object" || depth > 6) return undefined;
  const e = error as Record<string, unknown>;
  if (typeof e.data === "string" && isHexString(e.data) && e.data.length >= 10) return e.data;
  for (const key of ["revert", "error", "info", "cause", "data"]) {
    const found = findRevertData(e[key], depth + 1);
    if (found) return found;
  }
  return undefined;
}

/** Decodes revert data through `iface`; returns undefined when `error` carries none. */
export function decodeRevert(error: unknown, iface: Interface): DecodedRevert | undefined {
  const data = findRevertData(error);
  if (!data) {
    // A revert without data (`require(cond)` with no reason, or a node that hides data).
    const code = (error as { code?: string } | null)?.code;
    return code === "CALL_EXCEPTION" ? { kind: "unknown", text: "reverted without a reason" } : undefined;
  }
  const selector = data.slice(0, 10).toLowerCase();
  try {
    if (selector === REASON_SELECTOR) {
      const [reason] = AbiCoder.defaultAbiCoder().decode(["string"], `0x${data.slice(10)}`);
      return { kind: "reason", text: `reason ${JSON.stringify(reason)}`, args: [reason], data };
    }
    if (selector === PANIC_SELECTOR) {
      const [code] = AbiCoder.defaultAbiCoder().decode(["uint256"], `0x${data.slice(10)}`);
      return { kind: "panic", text: `panic 0x${(code as bigint).toString(16)}`, args: [code], data };
    }
    const parsed = iface.parseError(data);
    if (parsed) {
      const args = [...parsed.args];
      return { kind: "custom", name: parsed.name, text: `${parsed.name}(${args.map(String).join(", ")})`, args, data };
    }
  } catch {
    // Malformed revert data: fall through to the raw form.
  }
  return { kind: "unknown", text: `unknown error data ${data.slice(0, 74)}`, data };
}

/** Wraps `error` in a {@linkcode ChainError} saying what was attempted, with the revert decoded when there is one. */
export function chainError(what: string, error: unknown, iface: Interface): ChainError {
  if (error instanceof ChainError) return error;
  const revert = decodeRevert(error, iface);
  if (revert) return new ChainError(`${what}: the contract reverted with ${revert.text}`, { cause: error, revert });
  return new ChainError(`${what}: ${shortMessage(error)}`, { cause: error });
}

/** The short message of an ethers error (without its long JSON appendix), or of any error. */
export function shortMessage(error: unknown): string {
  if (error && typeof error === "object") {
    const e = error as { shortMessage?: unknown; message?: unknown };
    if (typeof e.shortMessage === "string") return e.shortMessage;
    if (typeof e.message === "string") return e.message;
  }
  return String(error);
}
