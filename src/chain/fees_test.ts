import assert from "node:assert/strict";
import { bumpFees, type FeeCaps, type Fees, maxCost } from "./fees.ts";

const GWEI = 1_000_000_000n;
const caps: FeeCaps = { maxFeePerGas: 10n * GWEI, maxPriorityFeePerGas: 1n * GWEI };

Deno.test("bumped fees raise max fee and tip by 25% on the same transaction", () => {
  const old: Fees = { type: 2, maxFeePerGas: 2n * GWEI, maxPriorityFeePerGas: GWEI / 10n };
  const bumped = bumpFees(old, old, caps);
  assert.deepEqual(bumped, { type: 2, maxFeePerGas: 2_500_000_000n, maxPriorityFeePerGas: 125_000_000n });
});

Deno.test("bumped fees follow the market when it rose more than 25%", () => {
  const old: Fees = { type: 2, maxFeePerGas: 2n * GWEI, maxPriorityFeePerGas: 1n };
  const market: Fees = { type: 2, maxFeePerGas: 6n * GWEI, maxPriorityFeePerGas: GWEI };
  assert.deepEqual(bumpFees(old, market, caps), market);
});

Deno.test("a zero tip is still bumped (by at least 1 wei)", () => {
  const old: Fees = { type: 2, maxFeePerGas: 3n, maxPriorityFeePerGas: 0n };
  const bumped = bumpFees(old, old, caps);
  assert.ok(bumped?.type === 2 && bumped.maxPriorityFeePerGas === 1n && bumped.maxFeePerGas === 4n);
});

Deno.test("bumps never exceed MAX_FEE_PER_GAS and stop when the cap leaves no room", () => {
  const old: Fees = { type: 2, maxFeePerGas: 9n * GWEI, maxPriorityFeePerGas: GWEI };
  const bumped = bumpFees(old, old, caps);
  assert.equal(bumped?.type === 2 && bumped.maxFeePerGas, 10n * GWEI);
  assert.equal(bumpFees(bumped!, bumped!, caps), undefined);
});

Deno.test("legacy gas price bumps are capped too", () => {
  const old: Fees = { type: 0, gasPrice: 8n * GWEI };
  assert.deepEqual(bumpFees(old, old, caps), { type: 0, gasPrice: 10n * GWEI });
  assert.equal(bumpFees({ type: 0, gasPrice: 10n * GWEI }, old, caps), undefined);
});

Deno.test("max cost is gas limit times the fee cap of the transaction", () => {
  assert.equal(maxCost({ type: 2, maxFeePerGas: 5n, maxPriorityFeePerGas: 1n }, 30_000n), 150_000n);
  assert.equal(maxCost({ type: 0, gasPrice: 7n }, 10n), 70n);
});
