/** `deno task demo`, exactly as a newcomer runs it: the whole network on one machine, one job, torn down. */
import assert from "node:assert/strict";
import { dockerMissing } from "../support/docker.ts";
import { natsServerMissing } from "../support/nats_server.ts";
import { serviceAvailable } from "../support/service.ts";

const ready = serviceAvailable("dockerd", await dockerMissing()) &&
  serviceAvailable("nats-server", natsServerMissing());

Deno.test({
  name: "deno task demo runs a job end to end, prints its timeline and output, and exits 0",
  ignore: !ready,
  async fn() {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["task", "demo"],
      cwd: new URL("../../", import.meta.url).pathname,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(180_000),
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, text + new TextDecoder().decode(out.stderr));
    assert.match(text, /status processing/);
    assert.match(text, /stage running/);
    assert.match(text, /status completed/);
    assert.match(text, /result\.txt: "HELLO FROM THE LAMDA NETWORK DEMO\\n"/);
    assert.match(text, /receipt valid, signed by 0x70997970C51812dc3A010C7d01b50e0d17dc79C8/);
    assert.match(text, /agent stopped \(exit 0\)/);
    assert.match(
      text,
      /Next steps:\n {2}deno task dev .*\n.*\n.* submit --image /,
      "the demo ends with what to do next",
    );
    const stderr = new TextDecoder().decode(out.stderr);
    assert.doesNotMatch(stderr, /Warning|╭/, "no warning box for a newcomer to decode");
  },
});
