/** Least privilege: the agent's Deno permission set, the flags a configuration needs, and permission audits. */
export { permissionsCommand } from "./command.ts";
export {
  hostPort,
  listenAddr,
  type PermissionFlags,
  permissionFlags,
  type PermissionFlagsOptions,
  type PermissionSource,
  permissionSources,
  READ_FILE_KEYS,
} from "./derive.ts";
export {
  type DenialReport,
  type DeniedAccess,
  deniedAccess,
  explainDenial,
  type ExplainOptions,
  howRunning,
  permissionsHint,
  type Runtime,
} from "./denied.ts";
export {
  AGENT_PERMISSION_SET,
  IGNORED_ENV,
  INSTALL_CONFIG_DIR,
  parsePermissionSet,
  type PermissionSet,
  permissionSetToFlags,
  shellLine,
} from "./permission_set.ts";
export { type AuditEntry, type AuditOptions, auditViolations, parseAuditLog, resolvePath } from "./audit.ts";
export { PermissionsError } from "./errors.ts";
