// Calico flow logs: JSON lines tailed through rotation, each an aggregated
// flow of one interval mapped to one `flows` row. Checkpoints move only once
// the rows are spooled; a line that is not a flow record is a counted drop.
import { recordId } from '../../contract/record-id.ts';
import { nowUs } from '../../contract/time.ts';
import { RateLimitedLog } from '../../ops/rate-limited-log.ts';
import type { Source, SourceContext, SourceLag, TableRecord } from '../../pipeline/source.ts';
import type { LogLine } from '../tail/decoders.ts';
import { type TailedFile, Tailer, tailerOptionsFrom } from '../tail/tailer.ts';
import type { CalicoSourceConfig } from './config.ts';
import { mapCalicoFlowLog } from './flow-log.ts';

export class CalicoSource implements Source {
  readonly kind = 'pull';
  readonly name: string;
  private readonly tailer: Tailer<null>;
  private ctx!: SourceContext;
  private log!: RateLimitedLog;

  constructor(config: Omit<CalicoSourceConfig, 'type'>) {
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
    this.log = new RateLimitedLog(ctx.logger, 60_000);
    return this.tailer.run(ctx, mode);
  }

  private drop(reason: string): void {
    this.ctx.metrics.drop('flows', this.name, reason);
    this.log.warn(`drop:${reason}`, { reason }, 'Calico flow-log line dropped');
  }

  private consume(file: TailedFile<null>, lines: readonly LogLine[]): TableRecord[] {
    const { ctx } = this;
    const out: TableRecord[] = [];
    const observedUs = nowUs();
    for (const line of lines) {
      const text = line.text.trim();
      if (!text) continue;
      if (line.truncated) {
        this.drop('line_too_long');
        continue;
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        this.drop('invalid_json');
        continue;
      }
      const result = mapCalicoFlowLog(parsed, {
        node: ctx.node,
        source: this.name,
        recordId: recordId(ctx.node, this.name, file.dev, file.ino, file.head, line.offset),
        observedUs,
      });
      if ('drop' in result) {
        this.drop(result.drop);
        continue;
      }
      this.tailer.observeEventTime(result.row.event_time);
      out.push({ table: 'flows', row: result.row });
    }
    return out;
  }
}
