// A file is known by device + inode + a hash of its first line (its "head",
// read up to a bound). Device and inode alone are not enough: an inode is
// reused once a file is deleted, and copytruncate keeps the inode while the
// content starts over. The first line is used rather than a fixed number of
// bytes because it is complete before any record of the file is emitted, so
// every record id of a file is derived from the same head, on every read.
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';

export interface Head {
  /** Bytes covered: the first line with its newline, or the bound. */
  readonly length: number;
  /** 16 hex characters of SHA-256 over those bytes. */
  readonly hash: string;
}

export function hashHead(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 16);
}

/** The head of an open file, or undefined while its first line is incomplete and shorter than the bound. */
export async function readHead(handle: FileHandle, bound: number): Promise<Head | undefined> {
  const buf = Buffer.allocUnsafe(bound);
  const { bytesRead } = await handle.read(buf, 0, bound, 0);
  const nl = buf.subarray(0, bytesRead).indexOf(10);
  if (nl !== -1) return { length: nl + 1, hash: hashHead(buf.subarray(0, nl + 1)) };
  if (bytesRead === bound) return { length: bound, hash: hashHead(buf.subarray(0, bound)) };
  return undefined;
}

/** Whether the file still starts with `head` (false after truncation or replacement). */
export async function headMatches(handle: FileHandle, head: Head): Promise<boolean> {
  const buf = Buffer.allocUnsafe(head.length);
  const { bytesRead } = await handle.read(buf, 0, head.length, 0);
  return bytesRead === head.length && hashHead(buf) === head.hash;
}

/**
 * Where to start in a file that was already there at the first start with
 * `start_at: end`: after its last complete line, so the line being written is
 * read whole once it is finished.
 */
export async function endOfLastLine(handle: FileHandle, size: number, window: number): Promise<number> {
  if (size === 0) return 0;
  const n = Math.min(size, window);
  const buf = Buffer.allocUnsafe(n);
  const { bytesRead } = await handle.read(buf, 0, n, size - n);
  const nl = buf.subarray(0, bytesRead).lastIndexOf(10);
  if (nl !== -1) return size - n + nl + 1;
  // No newline in the window: either one unfinished line (start at 0) or a
  // line beyond the bound (skip it).
  return size <= window ? 0 : size;
}
