/** `verify-receipt`: checks a signed receipt (a file, `-` for stdin, or a whole `completed` status message). */
import type { Command } from "../command.ts";
import { verifyReceipt } from "./receipt.ts";

/** `verify-receipt <file|->`. */
export const verifyReceiptCommand: Command = {
  name: "verify-receipt",
  summary: "check a job receipt's EIP-191 signature (exit 0 valid, 1 invalid)",
  positionals: [{ name: "receipt.json|-", description: "the receipt or status message file; - reads standard input" }],
  description: "Accepts a receipt object or a status message carrying one in its `receipt` field.",
  options: { signer: { type: "string", placeholder: "ADDRESS", description: "also require this node address" } },
  async run(ctx) {
    const [file] = ctx.args; // exactly one: the parser checks the declared positional
    const text = file === "-" ? await new Response(Deno.stdin.readable).text() : await Deno.readTextFile(file);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      ctx.print(`invalid: not JSON (${(error as Error).message})`);
      return 1;
    }
    if (value && typeof value === "object" && "receipt" in value) value = (value as { receipt: unknown }).receipt;
    const check = verifyReceipt(value, ctx.options.signer as string | undefined);
    if (check.valid) {
      ctx.print(`valid: job ${check.receipt.job_id} output ${check.receipt.output_cid} signed by ${check.signer}`);
      return 0;
    }
    ctx.print(`invalid: ${check.reason}`);
    return 1;
  },
};
