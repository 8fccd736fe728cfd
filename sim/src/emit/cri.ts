// Container log files as the kubelet and containerd leave them on the node:
// /var/log/pods/<namespace>_<pod>_<uid>/<container>/<restart>.log in CRI
// format (`<RFC3339Nano> <stream> <F|P> <text>`), lines over the runtime's
// 16 KiB limit split into `P` records ending with an `F`, and rotation as the
// kubelet does it: the current file renamed to `<n>.log.<YYYYMMDD-HHMMSS>`,
// older rotations gzipped, at most `maxFiles` files kept.
import { gzipSync } from 'node:zlib';
import type { Pod } from '../model.ts';
import { isoNanosTrimmed, kubeletRotationStamp } from '../time.ts';

/** containerd's default `max_container_log_line_size`. */
export const CRI_MAX_LINE = 16 * 1024;

export interface CriLine {
  /** Node-clock time the runtime stamped. */
  readonly nodeUs: number;
  readonly nanos: number;
  readonly stream: 'stdout' | 'stderr';
  readonly text: string;
  /** Index of the record this line came from (for delivery accounting). */
  readonly ref: number;
}

export function podLogDir(pod: Pod): string {
  return `var/log/pods/${pod.namespace}_${pod.name}_${pod.uid}`;
}

/** CRI records of one log line: `F`, or `P`… `F` when it is longer than the runtime's limit. */
export function criRecords(line: CriLine): string {
  const ts = isoNanosTrimmed(line.nodeUs, line.nanos);
  const bytes = Buffer.from(line.text, 'utf8');
  if (bytes.length <= CRI_MAX_LINE) return `${ts} ${line.stream} F ${line.text}\n`;
  let out = '';
  for (let off = 0; off < bytes.length; off += CRI_MAX_LINE) {
    const last = off + CRI_MAX_LINE >= bytes.length;
    out += `${ts} ${line.stream} ${last ? 'F' : 'P'} ${bytes.subarray(off, off + CRI_MAX_LINE).toString('utf8')}\n`;
  }
  return out;
}

export interface LogFile {
  /** Path relative to the node root. */
  readonly path: string;
  readonly content: Buffer;
}

export type Delivery = 'file' | 'compressed' | 'deleted';

export interface WrittenLogs {
  readonly files: LogFile[];
  /** Per record ref: where it ended up. */
  readonly delivery: Map<number, Delivery>;
  readonly rotations: number;
}

/**
 * Writes one container's log (restart 0) with the kubelet's rotation. Records
 * must come in the order the runtime wrote them.
 */
export function writeContainerLog(
  dir: string,
  lines: readonly CriLine[],
  maxBytes: number,
  maxFiles: number,
): WrittenLogs {
  const base = `${dir}/0.log`;
  interface Part {
    name: string;
    chunks: string[];
    refs: number[];
    bytes: number;
    compressed: boolean;
  }
  const rotated: Part[] = [];
  let current: Part = { name: base, chunks: [], refs: [], bytes: 0, compressed: false };
  let rotations = 0;
  const deleted: Part[] = [];
  for (const line of lines) {
    if (current.bytes >= maxBytes) {
      // The kubelet compresses every rotated file but the newest, then renames the current one.
      for (const r of rotated) r.compressed = true;
      let name = `${base}.${kubeletRotationStamp(line.nodeUs)}`;
      if (rotated.some((r) => r.name === name)) name = `${name}-${rotations}`;
      rotated.push({ ...current, name });
      rotations++;
      while (rotated.length > maxFiles - 1) deleted.push(rotated.shift()!);
      current = { name: base, chunks: [], refs: [], bytes: 0, compressed: false };
    }
    const rec = criRecords(line);
    current.chunks.push(rec);
    current.refs.push(line.ref);
    current.bytes += Buffer.byteLength(rec);
  }
  const files: LogFile[] = [];
  const delivery = new Map<number, Delivery>();
  for (const part of deleted) for (const ref of part.refs) delivery.set(ref, 'deleted');
  for (const part of [...rotated, current]) {
    const text = Buffer.from(part.chunks.join(''), 'utf8');
    files.push(
      part.compressed ? { path: `${part.name}.gz`, content: gzipSync(text) } : { path: part.name, content: text },
    );
    for (const ref of part.refs) delivery.set(ref, part.compressed ? 'compressed' : 'file');
  }
  return { files, delivery, rotations };
}
