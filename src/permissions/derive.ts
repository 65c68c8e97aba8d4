/** Derives the exact permission set one configuration needs: paths, hosts and sockets taken from the config itself. */
import { type Config, type ConfigKey, parseHostPort, varList } from "../config/mod.ts";
import { resolvePath } from "./audit.ts";
import { PermissionsError } from "./errors.ts";
import { IGNORED_ENV, type PermissionSet, permissionSetToFlags, unique } from "./permission_set.ts";

/** Options of {@linkcode permissionFlags}. */
export interface PermissionFlagsOptions {
  /** The `.env` path the agent reads at start-up (`--env-file`, else `.env`): readable even when it does not exist. */
  envFile: string;
  /** Directory relative paths are resolved against; default: keep relative paths relative. */
  cwd?: string;
}

/** A derived permission set and the `deno run` flags granting exactly it. */
export interface PermissionFlags extends PermissionSet {
  flags: string[];
}

/** Where dockerd keeps images unless told otherwise (`data-root` in daemon.json). */
export const DEFAULT_DOCKER_DATA_ROOT = "/var/lib/docker";

/** Config keys holding files the agent reads (credentials, keys, certificates); absent keys are skipped. */
export const READ_FILE_KEYS: readonly ConfigKey[] = [
  "keystore",
  "keystorePasswordFile",
  "natsCreds",
  "natsNkeySeedFile",
  "natsTlsCa",
  "natsTlsCert",
  "natsTlsKey",
];

/** One entry of a derived permission set, and the setting that makes the agent need it. */
export interface PermissionSource {
  kind: "read" | "write" | "net" | "run" | "sys";
  /** A path, `host:port`, `unix:<path>` or executable, as it goes into the flags. */
  entry: string;
  /** The variable whose value it comes from (`DOCKER_HOST`), or `--env-file` for the `.env` in use. */
  variable: string;
}

/** The permission set a config needs, as data and as flags. Pure: reads nothing but its arguments. */
export function permissionFlags(config: Config, options: PermissionFlagsOptions): PermissionFlags {
  const sources = permissionSources(config, options);
  const of = (kind: PermissionSource["kind"]) => unique(sources.filter((s) => s.kind === kind).map((s) => s.entry));
  const set: PermissionSet = {
    read: of("read"),
    write: of("write"),
    net: of("net"),
    env: varList().map(([, spec]) => spec.env),
    ignoreEnv: [...IGNORED_ENV],
    run: of("run"),
    sys: of("sys"),
  };
  return { ...set, flags: permissionSetToFlags(set) };
}

/** Every path, host and executable a config makes the agent touch, each with the variable it comes from. */
export function permissionSources(config: Config, options: PermissionFlagsOptions): PermissionSource[] {
  const abs = (p: string) => absolute(p, options.cwd);
  const out: PermissionSource[] = [];
  const envName = new Map<string, string>(varList().map(([key, spec]) => [key, spec.env]));
  const add = (kind: PermissionSource["kind"], key: ConfigKey | "--env-file", ...entries: string[]) => {
    const variable = envName.get(key) ?? key;
    for (const entry of entries) out.push({ kind, entry, variable });
  };

  const dataDir = abs(config.dataDir);
  add("read", "dataDir", dataDir);
  add("read", "--env-file", abs(options.envFile));
  add("write", "dataDir", dataDir);
  for (const key of READ_FILE_KEYS) {
    const file = config[key];
    if (typeof file === "string" && file !== "") add("read", key, abs(file));
  }

  const docker = config.dockerHost;
  if (docker.startsWith("unix://")) {
    // Deno 2.9: a unix socket needs read+write on its path, net on `unix:<path>`, and localhost:80 for the HTTP request
    // line; the path string must be the one the code connects to, so it is not resolved.
    const socket = docker.slice("unix://".length);
    add("read", "dockerHost", socket);
    add("write", "dockerHost", socket);
    add("net", "dockerHost", `unix:${socket}`, "localhost:80");
    // A local daemon: the image watermarks read its data root's filesystem usage (statfs, no file contents).
    add("read", "dockerDataRoot", config.dockerDataRoot ?? DEFAULT_DOCKER_DATA_ROOT);
    add("sys", "dockerDataRoot", "statfs");
  } else {
    add("net", "dockerHost", hostPort(docker.replace(/^tcp:/, "http:"), { http: 2375 }));
  }

  for (const u of config.natsServers) {
    add("net", "natsServers", hostPort(u, { nats: 4222, tls: 4222, ws: 80, wss: 443 }));
  }
  for (const u of config.rpcUrls) add("net", "rpcUrls", hostPort(u));
  if (config.pinataGateway) add("net", "pinataGateway", hostPort(config.pinataGateway));
  for (const u of config.ipfsGateways) add("net", "ipfsGateways", hostPort(u));
  add("net", "pinataApiUrl", hostPort(config.pinataApiUrl));
  if (config.httpAddr) add("net", "httpAddr", listenAddr(config.httpAddr));

  const smi = config.nvidiaSmiPath;
  add("run", "nvidiaSmiPath", smi.includes("/") ? abs(smi) : smi);
  return out;
}

/** `host:port` of a URL, the port defaulted from the scheme (`https` 443, `http` 80, or `ports`). */
export function hostPort(url: string, ports: Record<string, number> = {}): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch (error) {
    throw new PermissionsError(`Cannot derive a network permission from ${JSON.stringify(url)}: not a URL`, {
      cause: error,
    });
  }
  const scheme = u.protocol.replace(/:$/, "");
  const port = u.port || String(ports[scheme] ?? { https: 443, http: 80 }[scheme] ?? "");
  if (!u.hostname || !port) {
    throw new PermissionsError(`Cannot derive a network permission from ${JSON.stringify(url)}: no host or port`);
  }
  return `${u.hostname}:${port}`;
}

/** The listen permission for a `host:port` HTTP address (an empty host means all interfaces). */
export function listenAddr(addr: string): string {
  let hp;
  try {
    hp = parseHostPort(addr);
  } catch (error) {
    throw new PermissionsError(`Cannot derive a listen permission from HTTP_ADDR ${JSON.stringify(addr)}`, {
      cause: error,
    });
  }
  return `${hp.hostname.includes(":") ? `[${hp.hostname}]` : hp.hostname}:${hp.port}`;
}

function absolute(path: string, cwd: string | undefined): string {
  return cwd === undefined ? path : resolvePath(path, cwd);
}
