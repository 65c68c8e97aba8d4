/**
 * Reading the body of an HTTP error answer: only as much as a message needs. A daemon or a service may answer an error
 * with megabytes (an HTML page, a dump, a hostile peer); reading it whole costs memory and time for text that is cut
 * to a line anyway.
 */

/** How much of an error body is read by default. */
export const ERROR_BODY_BYTES = 4096;

/** Options of {@linkcode readBodyPrefix}. */
export interface BodyPrefixOptions {
  /** Gives up on a body that stops sending for this long, keeping what came; default 5 s. */
  stallMs?: number;
}

/**
 * Reads at most `maxBytes` of `response`'s body as UTF-8 text (a character cut at the end is dropped), then cancels
 * the rest so that it is never received. Never throws: a body that breaks or stalls gives what arrived before.
 */
export async function readBodyPrefix(
  response: Response,
  maxBytes: number = ERROR_BODY_BYTES,
  options: BodyPrefixOptions = {},
): Promise<string> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const bytes = new Uint8Array(maxBytes);
  let size = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    while (size < maxBytes) {
      const quiet = new Promise<"stalled">((resolve) =>
        timer = setTimeout(() => resolve("stalled"), options.stallMs ?? 5000)
      );
      const next = await Promise.race([reader.read(), quiet]);
      clearTimeout(timer);
      if (next === "stalled" || next.done) break;
      const take = next.value.subarray(0, maxBytes - size);
      bytes.set(take, size);
      size += take.byteLength;
    }
  } catch {
    // A body that broke: what came before is the message.
  } finally {
    clearTimeout(timer);
    // Cancelling releases the connection: the rest of the body is never received.
    await reader.cancel().catch(() => {});
  }
  return new TextDecoder().decode(bytes.subarray(0, size), { stream: true });
}
