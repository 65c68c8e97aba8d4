/** RPC failover against anvil behind a stand-in that throttles over HTTP 200, as public RPC providers do. */
import assert from "node:assert/strict";
import { FailoverRpcProvider } from "../../src/chain/mod.ts";
import { sleep } from "../../src/timers.ts";
import { Anvil } from "../support/anvil.ts";
import { CHAIN_ID, memoryLogger } from "./chain_fixture.ts";
import { RpcStandIn, THROTTLE_BODIES } from "./rpc_stand_in.ts";

const BASE_MS = 300;

Deno.test("RPC failover on throttling answers (HTTP 200 with a JSON-RPC error)", async (t) => {
  await using anvil = await Anvil.start({ chainId: CHAIN_ID });
  await using first = RpcStandIn.start(anvil.url);
  await using second = RpcStandIn.start(anvil.url);
  const { logger, writer } = memoryLogger();
  // random = 1: each backoff is exactly its ceiling, BASE_MS doubling per consecutive failure.
  const provider = new FailoverRpcProvider([first.url, second.url], {
    chainId: CHAIN_ID,
    timeoutMs: 2_000,
    retryBaseMs: BASE_MS,
    retryMaxMs: 10 * BASE_MS,
    random: () => 1,
    logger,
  });
  const chainHeight = Number(BigInt(await anvil.rpc<string>("eth_blockNumber")));
  try {
    await t.step("-32005 limit exceeded: the request is answered by the second endpoint", async () => {
      first.throttleNext(2, THROTTLE_BODIES.limitExceeded);
      assert.equal(await provider.getBlockNumber(), chainHeight);
      assert.equal(first.calls.length, 1);
      assert.equal(first.calls[0].intercepted, true);
      assert.equal(second.calls.length, 1);
      assert.equal(provider.currentUrl, second.url);
      const warning = writer.records.find((r) => r.msg === "RPC endpoint failed; using the next one");
      assert.ok(warning, writer.text());
      assert.match(String(warning.fields.error), /throttled \(-32005 limit exceeded\)/);
    });

    await t.step("while it backs off, the throttling endpoint is not asked at all", async () => {
      await provider.getBlockNumber();
      await provider.getBalance("0x0000000000000000000000000000000000000001");
      assert.equal(first.calls.length, 1);
      assert.equal(second.calls.length, 3);
    });

    await t.step("after its backoff it is tried again; throttling again doubles the backoff", async () => {
      await sleep(BASE_MS - (Date.now() - first.calls[0].at) + 20);
      await provider.getBlockNumber();
      assert.equal(first.calls.length, 2, "retried once its backoff passed");
      assert.ok(first.calls[1].at - first.calls[0].at >= BASE_MS, "not before the backoff");
      assert.equal(first.calls[1].intercepted, true);
      assert.equal(provider.currentUrl, second.url);
      await sleep(BASE_MS + 20);
      await provider.getBlockNumber();
      assert.equal(first.calls.length, 2, "the second backoff is twice the first");
    });

    await t.step("once it answers again, it is the endpoint in use", async () => {
      await sleep(2 * BASE_MS - (Date.now() - first.calls[1].at) + 20);
      assert.equal(await provider.getBlockNumber(), chainHeight);
      assert.equal(first.calls.length, 3);
      assert.equal(first.calls[2].intercepted, false);
      assert.equal(provider.currentUrl, first.url);
      assert.ok(writer.records.some((r) => r.msg === "RPC endpoint answers again; using it"), writer.text());
      // Its failure count was reset: a new throttle backs off from the base again, not from 4 × base.
      first.throttleNext(1);
      const before = second.calls.length;
      await provider.getBlockNumber();
      assert.equal(second.calls.length, before + 1);
      await sleep(BASE_MS - (Date.now() - first.calls.at(-1)!.at) + 20);
      await provider.getBlockNumber();
      assert.equal(first.calls.at(-1)!.intercepted, false);
      assert.equal(provider.currentUrl, first.url);
    });

    await t.step("a 429 wrapped in a -32000 over HTTP 200 (Base's public RPC) fails over too", async () => {
      await sleep(BASE_MS);
      first.throttleNext(1, THROTTLE_BODIES.tooManyRequests);
      const before = second.calls.length;
      assert.equal(await provider.getBlockNumber(), chainHeight);
      assert.equal(second.calls.length, before + 1);
    });

    await t.step("a revert is an answer, even one that says 'rate limit': not retried elsewhere", async () => {
      await sleep(3 * BASE_MS);
      const revert = {
        code: 3,
        message: "execution reverted: rate limit",
        // Error(string) "rate limit"
        data: "0x08c379a0" + "20".padStart(64, "0") + "a".padStart(64, "0") +
          Array.from(new TextEncoder().encode("rate limit"), (b) => b.toString(16).padStart(2, "0")).join("")
            .padEnd(64, "0"),
      };
      first.intercept = ({ method }) => (method === "eth_call" ? revert : undefined);
      const before = second.callsOf("eth_call").length;
      await assert.rejects(
        () => provider.call({ to: "0x0000000000000000000000000000000000000001", data: "0x" }),
        (e: Error & { code?: string; reason?: string }) => e.code === "CALL_EXCEPTION" && e.reason === "rate limit",
      );
      assert.equal(second.callsOf("eth_call").length, before, "the second endpoint was not asked");
      first.intercept = () => undefined;
    });

    await t.step("every endpoint throttling: the error names each, with its answer", async () => {
      await sleep(4 * BASE_MS);
      first.throttleNext(1);
      second.throttleNext(1);
      await assert.rejects(
        () => provider.getBlockNumber(),
        (e: Error) =>
          /No RPC endpoint answered/.test(e.message) &&
          e.message.includes(`${first.url}: throttled (-32005 limit exceeded)`) &&
          e.message.includes(`${second.url}: throttled (-32005 limit exceeded)`),
      );
    });
  } finally {
    provider.destroy();
  }
});
