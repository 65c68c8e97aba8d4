import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { which } from "../support/service.ts";

const UNIT = fileURLToPath(new URL("../../deploy/lamda-node-agent.service", import.meta.url));

/** `section -> key -> values` of a systemd unit file (comments and blank lines dropped). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = new Map();
      sections.set(header[1], current);
      continue;
    }
    const eq = line.indexOf("=");
    assert.ok(current && eq > 0, `malformed unit line: ${line}`);
    const key = line.slice(0, eq);
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1)]);
  }
  return sections;
}

Deno.test("the systemd unit runs the agent as a dedicated user in the docker group, sandboxed", async () => {
  const service = parseUnit(await Deno.readTextFile(UNIT)).get("Service")!;
  const one = (key: string) => {
    const v = service.get(key);
    assert.ok(v && v.length === 1, `[Service] ${key} must be set once`);
    return v[0];
  };
  assert.equal(one("User"), "lamda");
  assert.equal(one("SupplementaryGroups"), "docker");
  assert.equal(one("NoNewPrivileges"), "yes");
  assert.equal(one("ProtectSystem"), "strict");
  assert.equal(one("ProtectHome"), "yes");
  assert.equal(one("PrivateTmp"), "yes");
  assert.equal(one("ReadWritePaths"), "/var/lib/lamda-node-agent");
  assert.equal(one("WorkingDirectory"), "/var/lib/lamda-node-agent");
  assert.equal(one("CapabilityBoundingSet"), "");
  assert.equal(service.has("EnvironmentFile"), false, "the agent reads its own .env; secrets stay out of the unit");
  assert.match(
    one("ExecStart"),
    /^\/usr\/local\/bin\/lamda-node-agent --env-file \/etc\/lamda-node-agent\/agent\.env run$/,
  );
});

Deno.test("the systemd unit drains on stop, restarts on failure and logs to journald", async () => {
  const service = parseUnit(await Deno.readTextFile(UNIT)).get("Service")!;
  const get = (key: string) => service.get(key)?.[0];
  assert.equal(get("KillSignal"), "SIGTERM");
  assert.equal(get("Restart"), "on-failure");
  assert.match(get("RestartSec") ?? "", /^\d+s$/);
  assert.equal(get("StandardError"), "journal");
  assert.equal(get("StandardOutput"), "journal");
  // SHUTDOWN_TIMEOUT defaults to 5m: systemd must wait longer before it SIGKILLs a drain.
  const stop = /^(\d+)min$/.exec(get("TimeoutStopSec") ?? "");
  assert.ok(stop && Number(stop[1]) > 5, `TimeoutStopSec=${get("TimeoutStopSec")} must exceed SHUTDOWN_TIMEOUT`);
  assert.equal(get("RestartPreventExitStatus"), "78", "a configuration error is not retried");
});

Deno.test("systemd-analyze verify finds nothing wrong with the unit but the binary not installed here", async () => {
  const tool = which("systemd-analyze");
  if (!tool) {
    console.warn("SKIP systemd-analyze verify: systemd-analyze is not installed (apt-get install systemd)");
    return;
  }
  const out = await new Deno.Command(tool, { args: ["verify", UNIT], stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  const problems = text.split("\n").filter((l) => l.trim() !== "")
    // The release binary is installed by the operator; on a build machine it is absent.
    .filter((l) => !/Command \/usr\/local\/bin\/lamda-node-agent is not executable/.test(l));
  assert.deepEqual(problems, []);
});
