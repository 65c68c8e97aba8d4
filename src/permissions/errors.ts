/** Errors of the permissions component. */

/** A permission set or a value that should go into one cannot be expressed as Deno flags. */
export class PermissionsError extends Error {
  override name = "PermissionsError";
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}
