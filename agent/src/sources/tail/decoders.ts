// Turns physical lines into log records. Container runtimes wrap each line a
// program writes: CRI (`<time> <stream> <P|F> <text>`) and Docker json-file
// (`{"log": …, "stream": …, "time": …}`) both split long lines into partial
// records that are joined here, per stream, up to a bound. A record's offset
// is the offset of its first fragment, so a checkpoint never lands inside a
// record that is still being joined: re-reading from it rebuilds the record.

export type LineFormat = 'raw' | 'cri' | 'docker' | 'auto';

export interface LogLine {
  /** The line as the program wrote it, without the runtime's framing or the newline. */
  readonly text: string;
  /** File offset of the record's first byte (its first fragment). */
  readonly offset: number;
  readonly stream?: 'stdout' | 'stderr';
  /** The runtime's timestamp as written (RFC 3339), when the format has one. */
  readonly time?: string;
  /** The record was longer than the bound and was cut. */
  readonly truncated: boolean;
}

/** Cumulative counts a decoder keeps; the tailer reports their growth. */
export interface DecodeCounts {
  /** Lines whose framing is broken (not CRI, not JSON, no `log` field). */
  invalid: number;
  /** Records cut to the bound. */
  truncated: number;
  /** Docker lines cut by the bound before their JSON ended (so unreadable). */
  tooLong: number;
}

export interface LineDecoder {
  readonly format: LineFormat;
  readonly counts: DecodeCounts;
  decode(buf: Buffer, start: number, end: number, offset: number, cut: boolean, out: LogLine[]): void;
  /** Offset of the oldest record still being joined. */
  pendingStart(): number | undefined;
  /** Hands out records still being joined (the file ends and will not grow). */
  flush(out: LogLine[]): void;
  /** The format it settled on (auto picks one from the first line). */
  resolved(): LineFormat;
}

const newCounts = (): DecodeCounts => ({ invalid: 0, truncated: 0, tooLong: 0 });

export class RawDecoder implements LineDecoder {
  readonly format = 'raw' as const;
  readonly counts = newCounts();
  decode(buf: Buffer, start: number, end: number, offset: number, cut: boolean, out: LogLine[]): void {
    if (end > start && buf[end - 1] === 13 && !cut) end--;
    if (cut) this.counts.truncated++;
    out.push({ text: buf.toString('utf8', start, end), offset, truncated: cut });
  }
  pendingStart(): number | undefined {
    return undefined;
  }
  flush(): void {}
  resolved(): LineFormat {
    return 'raw';
  }
}

interface Group<P> {
  readonly offset: number;
  readonly pieces: P[];
  bytes: number;
  cut: boolean;
}

/** Partial records per stream, joined up to `maxBytes`. */
class Joiner<P> {
  private readonly groups = new Map<string, Group<P>>();
  private readonly maxBytes: number;
  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }
  /** Adds a fragment; returns the group it belongs to. */
  add(stream: string, offset: number, piece: P, bytes: number, cutPiece: (p: P, n: number) => P): Group<P> {
    let g = this.groups.get(stream);
    if (!g) {
      g = { offset, pieces: [], bytes: 0, cut: false };
      this.groups.set(stream, g);
    }
    const room = this.maxBytes - g.bytes;
    if (bytes > room) {
      g.cut = true;
      if (room > 0) {
        g.pieces.push(cutPiece(piece, room));
        g.bytes += room;
      }
    } else {
      g.pieces.push(piece);
      g.bytes += bytes;
    }
    return g;
  }
  take(stream: string): Group<P> | undefined {
    const g = this.groups.get(stream);
    if (g) this.groups.delete(stream);
    return g;
  }
  has(stream: string): boolean {
    return this.groups.has(stream);
  }
  oldest(): number | undefined {
    let min: number | undefined;
    for (const g of this.groups.values()) if (min === undefined || g.offset < min) min = g.offset;
    return min;
  }
  drain(): [string, Group<P>][] {
    const all = [...this.groups.entries()].sort((a, b) => a[1].offset - b[1].offset);
    this.groups.clear();
    return all;
  }
}

const SPACE = 32;

/** CRI (containerd, CRI-O): `<RFC3339Nano> <stdout|stderr> <P|F>[:tags] <text>`. */
export class CriDecoder implements LineDecoder {
  readonly format = 'cri' as const;
  readonly counts = newCounts();
  private readonly maxBytes: number;
  private readonly joiner: Joiner<Buffer>;
  private readonly times = new Map<string, string>();

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
    this.joiner = new Joiner(maxBytes);
  }

  decode(buf: Buffer, start: number, end: number, offset: number, cut: boolean, out: LogLine[]): void {
    const sp1 = buf.indexOf(SPACE, start);
    const sp2 = sp1 === -1 || sp1 >= end ? -1 : buf.indexOf(SPACE, sp1 + 1);
    // `<time> <stream> F` with nothing after the tag is an empty record.
    let sp3 = sp2 === -1 || sp2 >= end ? -1 : buf.indexOf(SPACE, sp2 + 1);
    if (sp3 === -1 || sp3 > end) sp3 = end;
    // The time is at least `YYYY-MM-DDTHH:MM:SSZ` and starts with a digit.
    if (sp2 === -1 || sp2 >= end || sp1 - start < 20 || sp1 - start > 40 || buf[start + 4] !== 45 || sp3 === sp2 + 1) {
      this.counts.invalid++;
      return;
    }
    const tag = buf[sp2 + 1];
    const streamLen = sp2 - sp1 - 1;
    const stream =
      streamLen === 6 && buf[sp1 + 4] === 111 // stdout
        ? 'stdout'
        : streamLen === 6 && buf[sp1 + 4] === 101 // stderr
          ? 'stderr'
          : undefined;
    if (!stream || (tag !== 70 && tag !== 80) || (sp3 !== sp2 + 2 && buf[sp2 + 2] !== 58)) {
      this.counts.invalid++;
      return;
    }
    const time = buf.toString('latin1', start, sp1);
    const contentStart = Math.min(sp3 + 1, end);
    const partial = tag === 80;
    if (!partial && !this.joiner.has(stream)) {
      let contentEnd = end;
      let truncated = cut;
      if (contentEnd - contentStart > this.maxBytes) {
        contentEnd = contentStart + this.maxBytes;
        truncated = true;
      }
      if (truncated) this.counts.truncated++;
      out.push({ text: buf.toString('utf8', contentStart, contentEnd), offset, stream, time, truncated });
      return;
    }
    // Fragments outlive the read buffer, so they are copied.
    const piece = Buffer.from(buf.subarray(contentStart, end));
    const group = this.joiner.add(stream, offset, piece, piece.length, (p, n) => p.subarray(0, n));
    if (cut) group.cut = true;
    if (partial) {
      this.times.set(stream, time);
      return;
    }
    this.joiner.take(stream);
    this.times.delete(stream);
    this.emit(group, stream, time, out);
  }

  pendingStart(): number | undefined {
    return this.joiner.oldest();
  }

  flush(out: LogLine[]): void {
    for (const [stream, group] of this.joiner.drain())
      this.emit(group, stream as 'stdout' | 'stderr', this.times.get(stream), out);
    this.times.clear();
  }

  resolved(): LineFormat {
    return 'cri';
  }

  private emit(group: Group<Buffer>, stream: 'stdout' | 'stderr', time: string | undefined, out: LogLine[]): void {
    if (group.cut) this.counts.truncated++;
    const text = Buffer.concat(group.pieces, group.bytes).toString('utf8');
    out.push({ text, offset: group.offset, stream, ...(time ? { time } : {}), truncated: group.cut });
  }
}

/** Docker json-file: one JSON object per line; `log` without a final newline is a partial record. */
export class DockerDecoder implements LineDecoder {
  readonly format = 'docker' as const;
  readonly counts = newCounts();
  private readonly joiner: Joiner<string>;
  private readonly times = new Map<string, string>();

  constructor(maxBytes: number) {
    this.joiner = new Joiner(maxBytes);
  }

  decode(buf: Buffer, start: number, end: number, offset: number, cut: boolean, out: LogLine[]): void {
    if (cut) {
      // The JSON is incomplete; nothing of it can be trusted.
      this.counts.tooLong++;
      return;
    }
    let parsed: { log?: unknown; stream?: unknown; time?: unknown };
    try {
      parsed = JSON.parse(buf.toString('utf8', start, end));
    } catch {
      this.counts.invalid++;
      return;
    }
    if (parsed === null || typeof parsed !== 'object' || typeof parsed.log !== 'string') {
      this.counts.invalid++;
      return;
    }
    const log = parsed.log;
    const stream = parsed.stream === 'stderr' ? 'stderr' : parsed.stream === 'stdout' ? 'stdout' : undefined;
    const time = typeof parsed.time === 'string' ? parsed.time : undefined;
    const key = stream ?? '';
    const complete = log.endsWith('\n');
    const text = complete ? log.slice(0, log.endsWith('\r\n') ? -2 : -1) : log;
    // Lengths are in UTF-16 units: bytes only matter once a record nears the bound.
    const size = text.length;
    const group = this.joiner.add(key, offset, text, size, (p, n) => p.slice(0, n));
    if (!complete) {
      if (time) this.times.set(key, time);
      return;
    }
    this.joiner.take(key);
    this.times.delete(key);
    this.emit(group, stream, time, out);
  }

  pendingStart(): number | undefined {
    return this.joiner.oldest();
  }

  flush(out: LogLine[]): void {
    for (const [key, group] of this.joiner.drain())
      this.emit(group, key === '' ? undefined : (key as 'stdout' | 'stderr'), this.times.get(key), out);
    this.times.clear();
  }

  resolved(): LineFormat {
    return 'docker';
  }

  private emit(
    group: Group<string>,
    stream: 'stdout' | 'stderr' | undefined,
    time: string | undefined,
    out: LogLine[],
  ): void {
    if (group.cut) this.counts.truncated++;
    const text = group.pieces.length === 1 ? group.pieces[0]! : group.pieces.join('');
    out.push({
      text,
      offset: group.offset,
      ...(stream ? { stream } : {}),
      ...(time ? { time } : {}),
      truncated: group.cut,
    });
  }
}

/** Picks CRI or Docker from a file's first line (`{` means Docker json-file). */
export class AutoDecoder implements LineDecoder {
  readonly format = 'auto' as const;
  private inner: LineDecoder | undefined;
  private readonly maxBytes: number;
  private readonly ownCounts = newCounts();

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  get counts(): DecodeCounts {
    return this.inner?.counts ?? this.ownCounts;
  }

  decode(buf: Buffer, start: number, end: number, offset: number, cut: boolean, out: LogLine[]): void {
    if (!this.inner) {
      if (end === start) return;
      this.inner = buf[start] === 123 ? new DockerDecoder(this.maxBytes) : new CriDecoder(this.maxBytes);
    }
    this.inner.decode(buf, start, end, offset, cut, out);
  }

  pendingStart(): number | undefined {
    return this.inner?.pendingStart();
  }

  flush(out: LogLine[]): void {
    this.inner?.flush(out);
  }

  resolved(): LineFormat {
    return this.inner?.resolved() ?? 'auto';
  }
}

export function createDecoder(format: LineFormat, maxBytes: number): LineDecoder {
  switch (format) {
    case 'raw':
      return new RawDecoder();
    case 'cri':
      return new CriDecoder(maxBytes);
    case 'docker':
      return new DockerDecoder(maxBytes);
    case 'auto':
      return new AutoDecoder(maxBytes);
  }
}
