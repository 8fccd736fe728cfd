// Framing and decoding of container log files, with examples and with
// properties over random content and random read boundaries: records come
// out whole and with the offset of their first byte however the bytes are
// chunked, partial records are joined per stream up to the bound, and no
// input makes a decoder throw.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { CriDecoder, createDecoder, DockerDecoder, type LineFormat, type LogLine } from './decoders.ts';
import { LineSplitter } from './framing.ts';

/** Feeds `bytes` in the given chunk sizes through splitter and decoder. */
function decodeAll(
  bytes: Buffer,
  format: LineFormat,
  chunks: readonly number[] = [bytes.length],
  maxLine = 1024,
  slack = 64,
): { lines: LogLine[]; pending: number | undefined; decoder: ReturnType<typeof createDecoder> } {
  const splitter = new LineSplitter(maxLine + slack);
  const decoder = createDecoder(format, maxLine);
  const lines: LogLine[] = [];
  let pos = 0;
  let i = 0;
  while (pos < bytes.length) {
    const n = Math.max(1, Math.min(chunks[i++ % chunks.length]!, bytes.length - pos));
    // A fresh copy per read, as the tailer reuses its read buffer.
    const chunk = Buffer.from(bytes.subarray(pos, pos + n));
    splitter.push(chunk, pos, (buf, s, e, off, cut) => decoder.decode(buf, s, e, off, cut, lines));
    chunk.fill(0);
    pos += n;
  }
  const pending = [splitter.pendingStart(), decoder.pendingStart()].filter((x) => x !== undefined);
  return { lines, pending: pending.length ? Math.min(...pending) : undefined, decoder };
}

test('splitter: lines with offsets; an unfinished line stays pending', () => {
  const { lines, pending } = decodeAll(Buffer.from('a\nbb\r\n\nccc'), 'raw', [2]);
  assert.deepEqual(
    lines.map((l) => [l.text, l.offset]),
    [
      ['a', 0],
      ['bb', 2],
      ['', 6],
    ],
  );
  assert.equal(pending, 7);
});

test('splitter: a line beyond the bound keeps its head, is flagged, and the next line is intact', () => {
  const long = 'x'.repeat(5000);
  const { lines } = decodeAll(Buffer.from(`${long}\nnext\n`), 'raw', [700], 300, 0);
  assert.equal(lines.length, 2);
  assert.equal(lines[0]!.text, 'x'.repeat(300));
  assert.equal(lines[0]!.truncated, true);
  assert.deepEqual([lines[1]!.text, lines[1]!.offset], ['next', 5001]);
});

test('CRI: partial records are joined per stream, with the offset of the first fragment', () => {
  const text = [
    '2026-11-25T07:00:00.000000001Z stdout P hello ',
    '2026-11-25T07:00:00.000000002Z stderr F an error',
    '2026-11-25T07:00:00.000000003Z stdout P big ',
    '2026-11-25T07:00:00.000000004Z stdout F world',
    '2026-11-25T07:00:00.000000005+00:00 stdout F tz offset',
    '2026-11-25T07:00:00Z stdout F',
    '',
  ].join('\n');
  const { lines, pending } = decodeAll(Buffer.from(text), 'cri', [7]);
  assert.deepEqual(
    lines.map((l) => [l.stream, l.text, l.offset]),
    [
      ['stderr', 'an error', 47],
      ['stdout', 'hello big world', 0],
      ['stdout', 'tz offset', text.indexOf('2026-11-25T07:00:00.000000005')],
      ['stdout', '', text.indexOf('2026-11-25T07:00:00Z')],
    ],
  );
  assert.equal(lines[1]!.time, '2026-11-25T07:00:00.000000004Z');
  assert.equal(pending, undefined);
});

test('CRI: a record still being joined holds the checkpoint at its first fragment', () => {
  const text = '2026-11-25T07:00:00Z stdout F done\n2026-11-25T07:00:01Z stdout P half of\n';
  const { pending } = decodeAll(Buffer.from(text), 'cri');
  assert.equal(pending, text.indexOf('2026-11-25T07:00:01Z'));
});

test('CRI: joined records are cut at the bound and counted; broken framing is counted', () => {
  const parts = Array.from(
    { length: 10 },
    (_, i) => `2026-11-25T07:00:00Z stdout ${i < 9 ? 'P' : 'F'} ${'y'.repeat(100)}`,
  );
  const text = `${parts.join('\n')}\nnot a cri line\n2026-11-25T07:00:00Z stdin F bad stream\n2026-11-25T07:00:00Z stdout F ok\n`;
  const { lines, decoder } = decodeAll(Buffer.from(text), 'cri', [33], 256);
  assert.deepEqual(
    lines.map((l) => [l.text.length, l.truncated]),
    [
      [256, true],
      [2, false],
    ],
  );
  assert.equal(decoder.counts.truncated, 1);
  assert.equal(decoder.counts.invalid, 2);
});

test('Docker json-file: split records joined, streams apart, corrupted lines counted', () => {
  const rec = (log: string, stream = 'stdout') => JSON.stringify({ log, stream, time: '2026-11-25T07:00:00.5Z' });
  const text = `${[rec('2020-03-24 Single '), rec('oops\n', 'stderr'), rec('li'), rec('ne\n'), '"log":"broken","stream":"stdout"}', rec('{"inner":"json \\"quoted\\""}\n')].join('\n')}\n`;
  const { lines, decoder } = decodeAll(Buffer.from(text), 'docker', [5, 50]);
  assert.deepEqual(
    lines.map((l) => [l.stream, l.text]),
    [
      ['stderr', 'oops'],
      ['stdout', '2020-03-24 Single line'],
      ['stdout', '{"inner":"json \\"quoted\\""}'],
    ],
  );
  assert.equal(lines[1]!.offset, 0);
  assert.equal(decoder.counts.invalid, 1);
});

test('auto framing: decided per file from the first line', () => {
  const docker = decodeAll(Buffer.from('{"log":"a\\n"}\n'), 'auto');
  const cri = decodeAll(Buffer.from('2026-11-25T07:00:00Z stdout F a\n'), 'auto');
  assert.equal(docker.decoder.resolved(), 'docker');
  assert.equal(cri.decoder.resolved(), 'cri');
  assert.equal(docker.lines[0]!.text, 'a');
  assert.equal(cri.lines[0]!.text, 'a');
});

// --- properties ------------------------------------------------------------------

const lineText = fc.string({ unit: 'grapheme', maxLength: 120 }).map((s) => s.replace(/[\r\n]/g, ' '));
const chunking = fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 8 });

test('property: however the bytes are chunked, CRI records come out whole, in order, at their offsets', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(lineText, fc.integer({ min: 1, max: 4 }), fc.constantFrom('stdout', 'stderr')), {
        maxLength: 30,
      }),
      chunking,
      (records, chunks) => {
        let text = '';
        const expected: [string, number, string][] = [];
        for (const [content, pieces, stream] of records) {
          const offset = Buffer.byteLength(text);
          // Split by code points so each fragment is valid UTF-8 on its own.
          const chars = [...content];
          const size = Math.ceil(chars.length / pieces) || 1;
          for (let p = 0; p < pieces; p++) {
            const piece = chars.slice(p * size, (p + 1) * size).join('');
            text += `2026-11-25T07:00:00.123456789Z ${stream} ${p === pieces - 1 ? 'F' : 'P'} ${piece}\n`;
          }
          expected.push([content, offset, stream]);
        }
        const { lines, pending } = decodeAll(Buffer.from(text), 'cri', chunks, 4096);
        assert.deepEqual(
          lines.map((l) => [l.text, l.offset, l.stream]),
          expected,
        );
        assert.equal(pending, undefined);
      },
    ),
    { numRuns: 300 },
  );
});

test('property: Docker json-file records survive any chunking and any content', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.string({ maxLength: 80 }), fc.integer({ min: 1, max: 3 })), { maxLength: 30 }),
      chunking,
      (records, chunks) => {
        let text = '';
        const expected: [string, number][] = [];
        for (const [content, pieces] of records) {
          const offset = Buffer.byteLength(text);
          const size = Math.ceil(content.length / pieces) || 1;
          for (let p = 0; p < pieces; p++) {
            const piece = content.slice(p * size, (p + 1) * size) + (p === pieces - 1 ? '\n' : '');
            text += `${JSON.stringify({ log: piece, stream: 'stdout', time: '2026-11-25T07:00:00Z' })}\n`;
          }
          // A record whose text ends in `\r` loses it with the newline, as Docker's `\r\n` does.
          expected.push([content.endsWith('\r') ? content.slice(0, -1) : content, offset]);
        }
        const { lines } = decodeAll(Buffer.from(text), 'docker', chunks, 4096, 8192);
        assert.deepEqual(
          lines.map((l) => [l.text, l.offset]),
          expected,
        );
      },
    ),
    { numRuns: 300 },
  );
});

test('property: arbitrary bytes never make a decoder throw, and records stay within the bound', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 3000 }),
      chunking,
      fc.constantFrom<LineFormat>('raw', 'cri', 'docker', 'auto'),
      (bytes, chunks, format) => {
        const { lines } = decodeAll(Buffer.from(bytes), format, chunks, 300);
        for (const l of lines) {
          assert.ok(l.offset >= 0 && l.offset < bytes.length);
          assert.ok(Buffer.byteLength(l.text) <= 300 * 3, 'bounded');
        }
        // Whatever is pending can be handed out.
        new CriDecoder(300).flush([]);
        new DockerDecoder(300).flush([]);
      },
    ),
    { numRuns: 500 },
  );
});
