/**
 * A whole local Lamda network for end-to-end tests and the demo: nats-server (JetStream), anvil with the reference
 * NodeReputation contract, the local IPFS service, and the Docker daemon at DOCKER_HOST with a busybox job image.
 */
import { JsonRpcProvider, Wallet } from "ethers";
import { deployReferenceContract } from "../../src/chain/reference_contract.ts";
import { type DevIpfs, fetchInput, startDevIpfs } from "../../src/storage/mod.ts";
import { Anvil, ANVIL_KEYS } from "./anvil.ts";
import { DockerClient, importBusyboxImage } from "../../src/docker/mod.ts";
import { DOCKER_HOST, dockerDataRoot, ensureSandboxImage, removeAgentContainers, SANDBOX_IMAGE } from "./docker.ts";
import { NatsServer } from "./nats_server.ts";
import { freePort } from "./ports.ts";

/** The sample job image: its own CMD upper-cases `/input/input` into `/output/result.txt`. */
export const SAMPLE_IMAGE = "lamda-sample/uppercase:1";

/** Builds {@linkcode SAMPLE_IMAGE} from the host's static busybox through the Engine API (no registry needed). */
export async function buildSampleImage(dockerHost = DOCKER_HOST): Promise<string> {
  using docker = new DockerClient(dockerHost);
  await importBusyboxImage(docker, SAMPLE_IMAGE, {
    changes: [
      'CMD ["/bin/sh", "-c", "tr a-z A-Z < /input/input > /output/result.txt && wc -c < /input/input > /output/size.txt"]',
      "ENV PATH=/bin",
    ],
  });
  return SAMPLE_IMAGE;
}

/** A test-only bearer token for the local IPFS service (not a real Pinata credential). */
export const DEV_PINATA_JWT = "dev-local-jwt-7f3a9c1e5b2d4086a1c3e5f7091b2d4c";

/** Options of {@linkcode LocalNetwork.start}. */
export interface LocalNetworkOptions {
  /** anvil's key index for the agent (default 1; 0 deploys the contract). */
  agentKeyIndex?: number;
  /** Services in sessions of their own, so a terminal's Ctrl-C reaches only the owner (`deno task dev`). */
  detached?: boolean;
  /** nats-server requires this password (user `lamda`); `natsUrl` then carries the credentials. */
  natsPassword?: string;
}

/** The running services and the agent environment that points at them. */
export class LocalNetwork implements AsyncDisposable {
  readonly nats: NatsServer;
  /** The URL clients and the agent use: `nats.url`, with the credentials when the server requires them. */
  readonly natsUrl: string;
  readonly anvil: Anvil;
  readonly ipfs: DevIpfs;
  readonly contractAddress: string;
  readonly agentKey: string;
  readonly agentAddress: string;
  readonly image: string;
  readonly dir: string;
  /** The test dockerd's data root (DOCKER_DATA_ROOT of the agents). */
  readonly dockerDataRoot: string;

  private constructor(
    parts: Pick<
      LocalNetwork,
      | "nats"
      | "natsUrl"
      | "anvil"
      | "ipfs"
      | "contractAddress"
      | "agentKey"
      | "agentAddress"
      | "image"
      | "dir"
      | "dockerDataRoot"
    >,
  ) {
    this.nats = parts.nats;
    this.natsUrl = parts.natsUrl;
    this.anvil = parts.anvil;
    this.ipfs = parts.ipfs;
    this.contractAddress = parts.contractAddress;
    this.agentKey = parts.agentKey;
    this.agentAddress = parts.agentAddress;
    this.image = parts.image;
    this.dir = parts.dir;
    this.dockerDataRoot = parts.dockerDataRoot;
  }

  /** Starts every service; whatever started is stopped again if a later one fails. */
  static async start(options: LocalNetworkOptions = {}): Promise<LocalNetwork> {
    const stack = new AsyncDisposableStack();
    try {
      const dir = await Deno.makeTempDir({ prefix: "lamda-net-" });
      stack.defer(() => Deno.remove(dir, { recursive: true }).catch(() => {}));
      const [nats, anvil, image, dataRoot] = await Promise.all([
        NatsServer.start({
          detached: options.detached,
          config: options.natsPassword
            ? `authorization { user: "lamda", password: ${JSON.stringify(options.natsPassword)} }\n`
            : undefined,
        }),
        Anvil.start({ chainId: 5611, detached: options.detached }),
        buildSampleImage().then(async (image) => (await ensureSandboxImage(), image)),
        dockerDataRoot(),
      ]);
      stack.use(nats);
      stack.use(anvil);
      const ipfs = stack.use(await startDevIpfs({ port: 0, dataDir: `${dir}/ipfs`, jwt: DEV_PINATA_JWT }));
      const provider = new JsonRpcProvider(anvil.url, undefined, { staticNetwork: true });
      let contractAddress: string;
      try {
        const contract = await deployReferenceContract(new Wallet(ANVIL_KEYS[0], provider));
        contractAddress = contract.address;
      } finally {
        provider.destroy();
      }
      const agentKey = ANVIL_KEYS[options.agentKeyIndex ?? 1];
      const net = new LocalNetwork({
        nats,
        natsUrl: options.natsPassword
          ? nats.url.replace("nats://", `nats://lamda:${encodeURIComponent(options.natsPassword)}@`)
          : nats.url,
        anvil,
        ipfs,
        contractAddress,
        agentKey,
        agentAddress: new Wallet(agentKey).address,
        image,
        dir,
        dockerDataRoot: dataRoot,
      });
      stack.move();
      return net;
    } catch (error) {
      await stack.disposeAsync();
      throw error;
    }
  }

  /** The agent's environment for this network (CPU-only mode, JetStream intake, HTTP on a free port). */
  agentEnv(dataDir: string, extra: Record<string, string> = {}): Record<string, string> {
    return {
      AGENT_PRIVATE_KEY: this.agentKey,
      OPBNB_RPC_URL: this.anvil.url,
      CHAIN_ID: "5611",
      REPUTATION_CONTRACT_ADDRESS: this.contractAddress,
      NATS_URL: this.natsUrl,
      DOCKER_HOST,
      DOCKER_DATA_ROOT: this.dockerDataRoot,
      PINATA_JWT: DEV_PINATA_JWT,
      PINATA_API_URL: this.ipfs.url,
      IPFS_GATEWAYS: this.ipfs.url,
      GPU_REQUIRED: "false",
      CPU_ONLY_SLOTS: "4",
      DATA_DIR: dataDir,
      HTTP_ADDR: `127.0.0.1:${freePort()}`,
      HEARTBEAT_INTERVAL: "5s",
      JOB_NETWORK_SANDBOX_IMAGE: SANDBOX_IMAGE,
      JOB_INTAKE: "jetstream",
      JETSTREAM_CREATE_STREAMS: "true",
      PRESENCE_INTERVAL: "1s",
      LOG_LEVEL: "debug",
      ...extra,
    };
  }

  /** Adds one file to the local IPFS service (as a renter would through Pinata) and returns its CID. */
  async addFile(name: string, bytes: Uint8Array<ArrayBuffer> | string): Promise<string> {
    const form = new FormData();
    form.append("file", new Blob([typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes]), name);
    form.append("pinataOptions", JSON.stringify({ cidVersion: 1 }));
    const res = await fetch(`${this.ipfs.url}/pinning/pinFileToIPFS`, {
      method: "POST",
      headers: { authorization: `Bearer ${DEV_PINATA_JWT}` },
      body: form,
    });
    const body = await res.json() as { IpfsHash?: string; error?: unknown };
    if (!res.ok || !body.IpfsHash) throw new Error(`Cannot add ${name}: ${res.status} ${JSON.stringify(body)}`);
    return body.IpfsHash;
  }

  /** Retrieves a CID through the local gateway with the agent's verifying client; returns each top-level file's text. */
  async readOutput(cid: string): Promise<Record<string, string>> {
    const out = await Deno.makeTempDir({ prefix: "lamda-output-" });
    try {
      await fetchInput(cid, out, {
        gateways: [{ url: this.ipfs.url }],
        maxBytes: 64 << 20,
        maxEntries: 200_000,
        requestTimeoutMs: 10_000,
        inactivityTimeoutMs: 10_000,
        totalTimeoutMs: 60_000,
        retries: 1,
      });
      const files: Record<string, string> = {};
      for await (const e of Deno.readDir(out)) {
        if (e.isFile) files[e.name] = await Deno.readTextFile(`${out}/${e.name}`);
      }
      return files;
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    // A test whose agent was killed (an AgentProcess's dispose is a SIGKILL) leaves its holders and containers.
    using docker = new DockerClient(DOCKER_HOST);
    await removeAgentContainers(docker, this.agentAddress);
    await this.ipfs.close();
    await this.anvil[Symbol.asyncDispose]();
    await this.nats[Symbol.asyncDispose]();
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}
