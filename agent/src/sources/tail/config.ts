// Configuration keys every file-tailing source shares (container logs, the
// Hubble export file, Calico flow logs). A source spreads `tailOptionsShape`
// into its own zod object and turns the parsed values into `TailerOptions`
// with `tailerOptionsFrom`. The helpers are local rather than imported from
// config/schema.ts, which imports the source schemas (an import cycle).
import { z } from 'zod';
import { parseDuration, parseSize } from '../../config/units.ts';

export const durationKey = (fallback: string, description: string) =>
  z
    .union([z.number(), z.string()])
    .default(fallback)
    .transform((v, ctx) => {
      const ms = parseDuration(v);
      if (ms === undefined) {
        ctx.addIssue({ code: 'custom', message: `'${v}' is not a duration (use e.g. 500ms, 30s, 5m, 1h, or seconds)` });
        return z.NEVER;
      }
      return ms;
    })
    .describe(`${description} Duration: 500ms, 30s, 5m, 1h, or a number of seconds. Default ${fallback}.`);

export const sizeKey = (fallback: string, description: string, min = 1) =>
  z
    .union([z.number(), z.string()])
    .default(fallback)
    .transform((v, ctx) => {
      const bytes = parseSize(v);
      if (bytes === undefined || bytes < min) {
        ctx.addIssue({
          code: 'custom',
          message: `'${v}' is not a size of at least ${min} bytes (use e.g. 512KiB, 64MiB, or bytes)`,
        });
        return z.NEVER;
      }
      return bytes;
    })
    .describe(`${description} Size: 512KiB, 64MiB, 1GiB, or a number of bytes. Default ${fallback}.`);

/** Keys of the tailer, to spread into a source's config object. */
export const tailOptionsShape = {
  start_at: z
    .enum(['end', 'beginning'])
    .default('end')
    .describe(
      'Where files present at the first start are read from. Files appearing later, and every file after a restart, are read from their beginning or their checkpoint.',
    ),
  poll_interval: durationKey('250ms', 'How often open files are checked for new data, rotation and truncation.'),
  discover_interval: durationKey('2s', 'How often the include globs are expanded to find new and rotated files.'),
  rotate_wait: durationKey(
    '5s',
    'How long a rotated or deleted file stays open after its last growth, for writes that reach it after the rotation.',
  ),
  max_open_files: z
    .number()
    .int()
    .min(1)
    .max(65_536)
    .default(512)
    .describe('File descriptors held at most; idle files are closed first and reopened when they grow.'),
  max_line_size: sizeKey(
    '64KiB',
    'Longest record kept: partial records are joined up to this size; the excess is cut and counted.',
    256,
  ),
  read_buffer_size: sizeKey('256KiB', 'Bytes read from a file per read call.', 4096),
  read_budget: sizeKey(
    '1MiB',
    'Bytes one file may read before the next file gets its turn (fairness: a noisy file cannot starve the others).',
    4096,
  ),
  fingerprint_size: sizeKey(
    '1KiB',
    'A file is identified by device, inode and a hash of its first line, read up to this many bytes (detects inode reuse and truncation).',
    16,
  ),
} as const;

export interface TailOptionsConfig {
  readonly start_at: 'end' | 'beginning';
  readonly poll_interval: number;
  readonly discover_interval: number;
  readonly rotate_wait: number;
  readonly max_open_files: number;
  readonly max_line_size: number;
  readonly read_buffer_size: number;
  readonly read_budget: number;
  readonly fingerprint_size: number;
}
