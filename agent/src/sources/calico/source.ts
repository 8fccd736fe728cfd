// Calico flow logs: JSON lines tailed through rotation, each an aggregated
// flow of one interval mapped to one `flows` row. Checkpoints move only once
// the rows are spooled; a line that is not a flow record is a counted drop.
import { JsonLinesSource } from '../tail/json-lines-source.ts';
import type { CalicoSourceConfig } from './config.ts';
import { mapCalicoFlowLog } from './flow-log.ts';

export class CalicoSource extends JsonLinesSource<'flows'> {
  constructor(config: Omit<CalicoSourceConfig, 'type'>) {
    super({
      ...config,
      table: 'flows',
      dropMessage: 'Calico flow-log line dropped',
      reader: (ctx) => ({
        read: (value, recordId, observedUs) =>
          mapCalicoFlowLog(value, { node: ctx.node, source: config.name, recordId: recordId(), observedUs }),
      }),
    });
  }
}
