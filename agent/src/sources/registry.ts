// Builds the configured sources. Each source type lives in its own folder
// under sources/; this is the only place that knows them all.
import type { SourceConfig } from '../config/schema.ts';
import type { Source } from '../pipeline/source.ts';
import { ReplaySource } from './replay/replay-source.ts';

export function createSource(config: SourceConfig): Source {
  switch (config.type) {
    case 'replay':
      return new ReplaySource({ name: config.name, paths: config.paths });
    // sources: container-logs
    // sources: hubble
    // sources: calico
    // sources: kubernetes
    // sources: otlp
  }
}
