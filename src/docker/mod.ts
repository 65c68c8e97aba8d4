/** Docker Engine API access over the unix socket: client, images, hardened job containers. */
export * from "./client.ts";
export * from "./image_import.ts";
