// The Hubble export file (cilium-agent's `hubble-export-file-path`, or saved
// `hubble observe -o jsonpb` output): JSON lines tailed through rotation with
// checkpoints committed only once their flows are spooled. Flows map like
// those of the gRPC stream; lost events and node status in the file are
// losses, exactly as on the stream.
import { recordId } from '../../contract/record-id.ts';
import { nowUs } from '../../contract/time.ts';
import { RateLimitedLog } from '../../ops/rate-limited-log.ts';
import type { Source, SourceContext, SourceLag, TableRecord } from '../../pipeline/source.ts';
import type { LogLine } from '../tail/decoders.ts';
import { type TailedFile, Tailer, tailerOptionsFrom } from '../tail/tailer.ts';
import type { HubbleExportSourceConfig } from './config.ts';
import { decodeExportLine } from './export-line.ts';
import { HubbleFlowMapper } from './flow-mapper.ts';
import { reportEvent } from './report.ts';

export class HubbleExportSource implements Source {
  readonly kind = 'pull';
  readonly name: string;
  private readonly tailer: Tailer<null>;
  private ctx!: SourceContext;
  private mapper!: HubbleFlowMapper;
  private log!: RateLimitedLog;

  constructor(config: Omit<HubbleExportSourceConfig, 'type'>) {
    this.name = config.name;
    this.tailer = new Tailer<null>({
      name: config.name,
      table: 'flows',
      include: config.include,
      exclude: config.exclude,
      format: 'raw',
      select: () => ({ meta: null }),
      consume: (file, lines) => this.consume(file, lines),
      ...tailerOptionsFrom(config),
    });
  }

  lag(): SourceLag {
    return this.tailer.lag();
  }

  run(ctx: SourceContext, mode: 'follow' | 'drain'): Promise<void> {
    this.ctx = ctx;
    this.mapper = new HubbleFlowMapper({ node: ctx.node, source: this.name });
    this.log = new RateLimitedLog(ctx.logger, 60_000);
    return this.tailer.run(ctx, mode);
  }

  private consume(file: TailedFile<null>, lines: readonly LogLine[]): TableRecord[] {
    const { ctx, mapper, log } = this;
    const out: TableRecord[] = [];
    const observedUs = nowUs();
    let flows = 0;
    for (const line of lines) {
      const text = line.text.trim();
      if (!text) continue;
      if (line.truncated) {
        // A cut JSON document cannot be parsed; the line is counted, not guessed at.
        reportEvent(ctx, this.name, { kind: 'drop', reason: 'line_too_long' }, log);
        continue;
      }
      const event = decodeExportLine(
        text,
        mapper,
        () => recordId(ctx.node, this.name, file.dev, file.ino, file.head, line.offset),
        observedUs,
      );
      if (event.kind !== 'flow') {
        reportEvent(ctx, this.name, event, log);
        continue;
      }
      flows++;
      this.tailer.observeEventTime(event.eventUs);
      out.push({ table: 'flows', row: event.row });
    }
    if (flows) ctx.metrics.hubbleEvents.inc({ source: this.name, kind: 'flow' }, flows);
    return out;
  }
}
