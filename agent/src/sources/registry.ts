// Builds the configured sources. Each source type lives in its own folder
// under sources/; this is the only place that knows them all.
import type { SourceConfig } from '../config/schema.ts';
import type { Source } from '../pipeline/source.ts';
import { CalicoSource } from './calico/source.ts';
import { ContainerLogsSource } from './container-logs/source.ts';
import { HubbleExportSource } from './hubble/export-source.ts';
import { HubbleGrpcSource } from './hubble/grpc-source.ts';
import { KubernetesSource } from './kubernetes/kubernetes-source.ts';
import { OtlpSource } from './otlp/otlp-source.ts';
import { ReplaySource } from './replay/replay-source.ts';

export function createSource(config: SourceConfig): Source {
  switch (config.type) {
    case 'replay':
      return new ReplaySource({ name: config.name, paths: config.paths });
    case 'container-logs':
      return new ContainerLogsSource(config);
    case 'hubble':
      return new HubbleGrpcSource(config);
    case 'hubble-export':
      return new HubbleExportSource(config);
    case 'calico':
      return new CalicoSource(config);
    case 'kubernetes':
      return new KubernetesSource(config);
    case 'otlp':
      return new OtlpSource(config);
  }
}
