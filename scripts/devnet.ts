/** The local network for `deno task demo` and `deno task dev`: preflight checks, then every service on loopback. */
import { DOCKER_HOST, dockerMissing } from "../tests/support/docker.ts";
import { LocalNetwork } from "../tests/support/local_network.ts";
import { natsServerMissing } from "../tests/support/nats_server.ts";

/** Says exactly what is missing on this machine and how to install it; empty when everything is there. */
export async function preflight(): Promise<string[]> {
  const problems: string[] = [];
  if (natsServerMissing()) problems.push("nats-server is not installed: apt-get install -y nats-server");
  const docker = await dockerMissing();
  if (docker?.includes("busybox")) {
    problems.push(
      "busybox-static is not installed (the sample job image is built from it): apt-get install -y busybox-static",
    );
  } else if (docker) {
    problems.push(
      `${docker}\n    install Docker (apt-get install -y docker.io), start dockerd, and point DOCKER_HOST at its socket ` +
        `(now ${DOCKER_HOST}); e.g. dockerd --host unix:///run/lamda-dev/docker.sock --data-root /var/lib/lamda-dev-docker`,
    );
  }
  return problems;
}

/** Starts the local network after the preflight; prints what is missing and returns undefined when it cannot. */
export async function startDevnet(
  print: (line: string) => void,
  options: { detached?: boolean } = {},
): Promise<LocalNetwork | undefined> {
  const problems = await preflight();
  if (problems.length) {
    print("The local network cannot start on this machine:");
    for (const p of problems) print(`  - ${p}`);
    return undefined;
  }
  print("Starting nats-server (JetStream), anvil + NodeReputation, the local IPFS service, the sample job image…");
  const net = await LocalNetwork.start({ detached: options.detached });
  print(`  NATS        ${net.nats.url}`);
  print(`  chain       ${net.anvil.url} (chain id 5611), NodeReputation at ${net.contractAddress}`);
  print(`  IPFS        ${net.ipfs.url} (Pinata API + trustless gateway)`);
  print(`  Docker      ${DOCKER_HOST}, job image ${net.image}`);
  print(`  agent       ${net.agentAddress} (anvil development key #1, funded)`);
  return net;
}
