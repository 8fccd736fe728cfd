// Pod metadata from where the kubelet puts container logs, with no API call:
//   /var/log/pods/<namespace>_<pod>_<uid>/<container>/<restart>.log[.<rotation>]
//   /var/log/containers/<pod>_<namespace>_<container>-<container id>.log  (links to the above)
// Namespaces, pod names, uids and container names cannot contain `_`, so the
// underscores split them unambiguously.
import { basename, dirname } from 'node:path';

export interface PodRef {
  readonly namespace: string;
  readonly pod: string;
  readonly uid?: string;
  readonly container: string;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const UID = /^[0-9a-fA-F-]{8,64}$/;

/** `…/<ns>_<pod>_<uid>/<container>/<n>.log…` */
export function fromPodsPath(path: string): PodRef | undefined {
  const file = basename(path);
  if (!/^\d+\.log(\..+)?$/.test(file)) return undefined;
  const containerDir = dirname(path);
  const container = basename(containerDir);
  const parts = basename(dirname(containerDir)).split('_');
  if (parts.length !== 3) return undefined;
  const [namespace, pod, uid] = parts as [string, string, string];
  if (!DNS_LABEL.test(namespace) || !DNS_SUBDOMAIN.test(pod) || !UID.test(uid) || !DNS_LABEL.test(container))
    return undefined;
  return { namespace, pod, uid, container };
}

/** `…/<pod>_<ns>_<container>-<64 hex>.log` (some tools write it without the container id). */
export function fromContainersPath(path: string): PodRef | undefined {
  const m = /^([^_/]+)_([^_/]+)_([^_/]+?)(?:-[0-9a-f]{64})?\.log$/.exec(basename(path));
  if (!m) return undefined;
  const [, pod, namespace, container] = m as unknown as [string, string, string, string];
  if (!DNS_LABEL.test(namespace) || !DNS_SUBDOMAIN.test(pod) || !DNS_LABEL.test(container)) return undefined;
  return { namespace, pod, container };
}

/** Metadata from the real file when it is in the pods layout (it has the uid), else from the link's name. */
export function podRefOf(path: string, realPath: string): PodRef | undefined {
  return fromPodsPath(realPath) ?? fromPodsPath(path) ?? fromContainersPath(path);
}
