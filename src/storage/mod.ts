/** Storage: verified IPFS input retrieval, streamed and verified Pinata uploads with a spool, and a local IPFS service. */
export {
  EMPTY_DIRECTORY_CID,
  type FetchOptions,
  type ResumeOptions,
  Storage,
  type StorageConfig,
  type TransferOptions,
  type UploadOptions,
  type UploadResult,
} from "./storage.ts";
export { type StorageDetail, StorageError, type StorageReason } from "./errors.ts";
export { fetchInput, type FetchInputOptions, type FetchInputResult, type Gateway } from "./fetch_input.ts";
export { SINGLE_FILE_NAME } from "./unixfs_export.ts";
export { cacheKey, InputCache, type InputLease, type InputSource } from "./input_cache.ts";
export { type ComputeCidOptions, computeDirectoryCid, computeFileCid } from "./compute_cid.ts";
export {
  CID_PROFILES,
  type CidProfile,
  type CidProfileName,
  importerOptionsFor,
  kuboV0ImporterOptions,
  profileImporterOptions,
  serviceImporterOptions,
  UPLOAD_PROFILES,
} from "./cid_profile.ts";
export { describeProfile, PROBE_FILE, type ProbeResult, probeUpload } from "./upload_probe.ts";
export { OutputSpool, type SpooledOutput } from "./output_spool.ts";
export { PinataClient, type PinataClientOptions, type PinResult } from "./pinata_client.ts";
export { type DevIpfs, type DevIpfsOptions, type PinataScope, startDevIpfs } from "./dev_service.ts";
export { ipfsDevCommand } from "./ipfs_dev_command.ts";
export {
  type GatewayProbe,
  logGatewayProbes,
  probeGateway,
  probeGateways,
  type ProbeVerdict,
} from "./gateway_probe.ts";
