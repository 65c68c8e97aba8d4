/** Variables of the docker component. */
import { z } from "zod";
import { withDefault } from "../spec.ts";

/** Docker variables. */
export const dockerVars = {
  dockerHost: withDefault({
    env: "DOCKER_HOST",
    schema: z.string().trim().regex(
      /^(unix:\/\/\/.+|tcp:\/\/[^/\s]+(:\d+)?\/?)$/,
      "is not a Docker host (unix:///path/to/docker.sock or tcp://host:port)",
    ),
    default: "unix:///var/run/docker.sock",
    example: "unix:///var/run/docker.sock",
    doc: "Docker Engine API endpoint: a unix socket or tcp:// address.",
    group: "Docker",
  }),
};
