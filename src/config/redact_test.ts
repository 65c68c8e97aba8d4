import assert from "node:assert/strict";
import { redactUrl, secretsOf, urlSecrets } from "./redact.ts";
import type { VarSpec } from "./spec.ts";

Deno.test("URLs lose credentials, query values and API-key path segments, nothing else", () => {
  assert.equal(redactUrl("https://opbnb-testnet-rpc.bnbchain.org"), "https://opbnb-testnet-rpc.bnbchain.org");
  assert.equal(redactUrl("nats://user:hunter22@nats:4222"), "nats://***:***@nats:4222");
  assert.equal(
    redactUrl("https://opbnb-testnet.nodereal.io/v1/64a9df0874fb4a93b9d0a3849de012d3"),
    "https://opbnb-testnet.nodereal.io/v1/***",
  );
  assert.equal(redactUrl("https://rpc.example/?apikey=s3cr3t"), "https://rpc.example/?apikey=***");
  assert.equal(redactUrl("not a url"), "not a url");
});

Deno.test("the secrets of a URL are what redactUrl hides: password and user:password, token, query values, API keys", () => {
  assert.deepEqual(urlSecrets("nats://user:hunter22@nats:4222"), ["user:hunter22", "hunter22"]);
  assert.deepEqual(urlSecrets("nats://s3cr3t-token@nats:4222"), ["s3cr3t-token"]);
  assert.deepEqual(urlSecrets("nats://u:p%40ss%21@nats"), ["u:p%40ss%21", "p%40ss%21", "p@ss!"]);
  assert.deepEqual(urlSecrets("https://rpc.example/?apikey=s3cr3t&x="), ["s3cr3t"]);
  assert.deepEqual(urlSecrets("https://rpc.example/?network=mainnet&k=0123456789abcdef"), ["0123456789abcdef"]);
  assert.deepEqual(
    urlSecrets("https://opbnb-testnet.nodereal.io/v1/64a9df0874fb4a93b9d0a3849de012d3"),
    ["64a9df0874fb4a93b9d0a3849de012d3"],
  );
  assert.deepEqual(urlSecrets("https://gateway.pinata.cloud"), []);
  assert.deepEqual(urlSecrets("not a url"), []);
});

Deno.test("secretsOf takes a secret whole and every URL of a list apart", () => {
  const spec = (secret: boolean) => ({ secret }) as VarSpec;
  assert.deepEqual(secretsOf(spec(true), "eyJhbGciOi.jwt"), ["eyJhbGciOi.jwt"]);
  assert.deepEqual(secretsOf(spec(false), "nats://a:pw-one@h1:4222, nats://b:pw-two@h2:4222"), [
    "a:pw-one",
    "pw-one",
    "b:pw-two",
    "pw-two",
  ]);
  assert.deepEqual(secretsOf(spec(false), "plain,values"), []);
  assert.deepEqual(secretsOf(spec(false), undefined), []);
});

Deno.test("a unix socket path in DOCKER_HOST is a path, not a credential: shown and logged as it is", () => {
  const socket = "unix:///tmp/lamda-permissions-6b3f3b1dbe00ab82/other.sock";
  assert.deepEqual(urlSecrets(socket), []);
  assert.equal(redactUrl(socket), socket);
});
