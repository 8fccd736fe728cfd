// The Hubble export file (cilium-agent's `hubble-export-file-path`, or saved
// `hubble observe -o jsonpb` output): JSON lines tailed through rotation with
// checkpoints committed only once their flows are spooled. Flows map like
// those of the gRPC stream; lost events and node status in the file are
// losses, exactly as on the stream.
import { JsonLinesSource } from '../tail/json-lines-source.ts';
import type { HubbleExportSourceConfig } from './config.ts';
import { decodeExportValue } from './export-line.ts';
import { HubbleFlowMapper } from './flow-mapper.ts';
import { reportEvent } from './report.ts';

export class HubbleExportSource extends JsonLinesSource<'flows'> {
  constructor(config: Omit<HubbleExportSourceConfig, 'type'>) {
    const source = config.name;
    super({
      ...config,
      table: 'flows',
      // The message of reportEvent's drops, so both sources of Hubble flows log alike.
      dropMessage: 'Hubble event dropped',
      reader: (ctx, log) => {
        const mapper = new HubbleFlowMapper({ node: ctx.node, source });
        return {
          read(value, recordId, observedUs) {
            const event = decodeExportValue(value, mapper, recordId, observedUs);
            if (event.kind === 'flow') return { row: event.row };
            reportEvent(ctx, source, event, log);
            return undefined;
          },
          afterRead(flows) {
            if (flows) ctx.metrics.hubbleEvents.inc({ source, kind: 'flow' }, flows);
          },
        };
      },
    });
  }
}
