/** Variables of the process itself: logging and the data directory. */
import { LOG_LEVELS } from "../../log/mod.ts";
import { oneOf, path, withDefault } from "../spec.ts";

/** Core variables. */
export const coreVars = {
  logLevel: withDefault({
    env: "LOG_LEVEL",
    schema: oneOf(LOG_LEVELS),
    default: "info",
    example: "debug",
    doc: "Lowest level logged: debug, info, warn or error.",
    group: "General",
  }),
  logFormat: withDefault({
    env: "LOG_FORMAT",
    schema: oneOf(["json", "pretty"] as const),
    default: "json",
    example: "pretty",
    doc: "`json` writes one JSON object per line (for journald and log shippers); `pretty` is for people.",
    group: "General",
  }),
  dataDir: withDefault({
    env: "DATA_DIR",
    schema: path(),
    default: "./data",
    example: "/var/lib/lamda-node-agent",
    doc: "Where the agent keeps its job journal, per-job directories and the upload spool. A relative path is " +
      "resolved against the working directory at start-up.",
    absolutePath: true,
    group: "General",
  }),
};
