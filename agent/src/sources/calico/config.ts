// Configuration of the `calico` source: Calico Enterprise/Cloud flow logs,
// the JSON-lines files Felix writes on every node.
import { z } from 'zod';
import { sizeKey, tailOptionsShape } from '../tail/config.ts';

export const calicoSourceSchema = z
  .object({
    type: z.literal('calico'),
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]*$/)
      .default('calico')
      .describe('Source name: the `source` column, metric labels and checkpoint keys.'),
    include: z
      .array(z.string().min(1))
      .min(1)
      .default(['/var/log/calico/flowlogs/flows.log', '/var/log/calico/flowlogs/flows*.log.*'])
      .describe('Absolute globs of flow-log files and their rotated backups.'),
    exclude: z
      .array(z.string().min(1))
      .default(['**/*.gz', '**/*.pos'])
      .describe('Globs of files not to read (compressed backups, reader position files).'),
    ...tailOptionsShape,
    // One JSON document per line, and a cut one cannot be read: room for large L7 records.
    max_line_size: sizeKey(
      '1MiB',
      'Longest line read; a longer one is cut by the tailer and dropped (line_too_long).',
      256,
    ),
  })
  .strict();

export type CalicoSourceConfig = z.output<typeof calicoSourceSchema>;
