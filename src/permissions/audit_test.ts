import assert from "node:assert/strict";
import { auditViolations, parseAuditLog } from "./audit.ts";
import { PermissionsError } from "./errors.ts";
import type { PermissionSet } from "./permission_set.ts";

const SET: PermissionSet = {
  read: ["./data", "./.env", "/var/run/docker.sock"],
  write: ["./data"],
  net: ["unix:/var/run/docker.sock", "localhost:80", "127.0.0.1:4222", "api.pinata.cloud:443"],
  env: ["LOG_LEVEL"],
  ignoreEnv: ["WS_NO_BUFFER_UTIL"],
  run: ["nvidia-smi"],
  sys: [],
};

const line = (permission: string, value: string | null) =>
  JSON.stringify({ v: 1, datetime: "2026-01-01T00:00:00Z", permission, value });

Deno.test("an audit log of accesses inside the set has no violations", () => {
  const log = [
    line("read", ".env"),
    line("read", "/srv/agent/data/jobs/j1/input"),
    line("write", "data/journal.db"),
    line("net", "unix:/var/run/docker.sock"),
    line("net", "http://localhost/v1.43/containers/create"),
    line("net", "https://api.pinata.cloud/pinning/pinFileToIPFS"),
    line("net", "127.0.0.1:4222"),
    line("env", "LOG_LEVEL"),
    line("env", "WS_NO_BUFFER_UTIL"),
    line("run", "/usr/bin/nvidia-smi"),
  ].join("\n");
  assert.deepEqual(auditViolations(parseAuditLog(log), SET, { cwd: "/srv/agent" }), []);
});

Deno.test("accesses outside the set are reported once each", () => {
  const log = [
    line("read", "/etc/shadow"),
    line("read", "/etc/shadow"),
    line("read", "/srv/agent/data-other/x"),
    line("read", "data/../../root/.ssh/id_ed25519"),
    line("write", "/tmp/x"),
    line("net", "example.com:443"),
    line("net", "https://evil.example/"),
    line("env", "HOME"),
    line("env", null),
    line("run", "/bin/sh"),
    line("sys", "hostname"),
    line("ffi", "/lib/x.so"),
  ].join("\n");
  const v = auditViolations(parseAuditLog(log), SET, { cwd: "/srv/agent" });
  assert.deepEqual(v.map((e) => `${e.permission} ${e.value}`), [
    "read /etc/shadow",
    "read /srv/agent/data-other/x",
    "read data/../../root/.ssh/id_ed25519",
    "write /tmp/x",
    "net example.com:443",
    "net https://evil.example/",
    "env HOME",
    "env null",
    "run /bin/sh",
    "sys hostname",
    "ffi /lib/x.so",
  ]);
});

Deno.test("a malformed audit line is an error naming the line", () => {
  assert.throws(
    () => parseAuditLog(`${line("env", "A")}\n{oops`),
    (e) => e instanceof PermissionsError && /line 2/.test(e.message),
  );
  assert.throws(() => parseAuditLog(`{"value":"x"}`), /line 1/);
});
