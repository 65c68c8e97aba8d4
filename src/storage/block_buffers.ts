/**
 * Memory for large CAR blocks, used again once a block is on disk: a retrieval that allocated a fresh buffer per block
 * left tens of MiB of dead buffers waiting for V8's next full collection, and paid the kernel for fresh pages each time.
 * Only whole buffers this pool handed out (and the reader then marked with {@linkcode adopt}) come back, each once.
 */
export class BlockBuffers {
  #free = new Map<number, Uint8Array<ArrayBuffer>[]>();
  #freeBytes = 0;
  #maxBytes: number;
  // Buffers handed out as a block's bytes and not given back yet: what give() accepts.
  #out = new WeakSet<ArrayBufferLike>();

  constructor(maxBytes = 8 * 1024 * 1024) {
    this.#maxBytes = maxBytes;
  }

  /** Bytes of buffers waiting to be used again. */
  get freeBytes(): number {
    return this.#freeBytes;
  }

  /** A buffer of exactly `size` bytes; its contents are left over from an earlier block. */
  take(size: number): Uint8Array<ArrayBuffer> {
    const reused = this.#free.get(size)?.pop();
    if (!reused) return new Uint8Array(size);
    this.#freeBytes -= size;
    return reused;
  }

  /** Marks `bytes`, a block's bytes that fill their buffer, as this pool's to take back. */
  adopt(bytes: Uint8Array): void {
    if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength) this.#out.add(bytes.buffer);
  }

  /** Gives `bytes` back; only an adopted buffer that nothing else uses any more may be given. Any other is ignored. */
  give(bytes: Uint8Array): void {
    if (!this.#out.has(bytes.buffer) || !(bytes.buffer instanceof ArrayBuffer)) return;
    this.#out.delete(bytes.buffer);
    if (this.#freeBytes + bytes.byteLength > this.#maxBytes) return;
    const list = this.#free.get(bytes.byteLength) ?? [];
    list.push(bytes as Uint8Array<ArrayBuffer>);
    this.#free.set(bytes.byteLength, list);
    this.#freeBytes += bytes.byteLength;
  }

  /** Drops every free buffer. */
  clear(): void {
    this.#free.clear();
    this.#freeBytes = 0;
  }
}
