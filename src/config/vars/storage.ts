/** Variables of the storage component: IPFS gateways and Pinata. */
import { optional, text } from "../spec.ts";

/** Storage variables. */
export const storageVars = {
  pinataJwt: optional({
    env: "PINATA_JWT",
    schema: text(),
    secret: true,
    example: "eyJhbGciOi…",
    doc: "Pinata API JWT used to upload job outputs. Never logged.",
    group: "IPFS",
  }),
};
