/** Prints, as JSON, how a request to the Docker host in `Deno.args[0]` fails; `client_test.ts` runs it as another user. */
import { DockerClient } from "../client.ts";

using client = new DockerClient(Deno.args[0]);
try {
  await client.send("GET", "/_ping");
  console.log(JSON.stringify({ ok: true }));
} catch (e) {
  const error = e as Error;
  console.log(JSON.stringify({ name: error.name, message: error.message, cause: (error.cause as Error)?.name }));
}
