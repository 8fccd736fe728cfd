// IPv4 addresses as numbers and back, and a per-node address allocator that
// hands out the lowest free address of the node's pod CIDR — as the
// host-local IPAM does once it wraps around — so a freed pod IP is the next
// one given out: pod churn reuses IPs.

export function ipToInt(ip: string): number {
  const p = ip.split('.').map(Number);
  return ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0;
}

export function intToIp(n: number): string {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** Whether `ip` lies in `cidr` (`a.b.c.d/len`). */
export function inCidr(ip: string, cidr: string): boolean {
  const [base, lenText] = cidr.split('/') as [string, string];
  const len = Number(lenText);
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return (ipToInt(ip) & mask) >>> 0 === (ipToInt(base) & mask) >>> 0;
}

export class PodIpam {
  private readonly base: number;
  private readonly size: number;
  /** Offsets (from the CIDR base) of addresses in use. */
  private readonly inUse = new Set<number>();

  constructor(cidr: string) {
    const [base, len] = cidr.split('/') as [string, string];
    this.base = ipToInt(base);
    this.size = 2 ** (32 - Number(len));
  }

  /** Lowest free address (offsets 0 and 1 are the network and the gateway). */
  allocate(): string {
    for (let off = 2; off < this.size - 1; off++)
      if (!this.inUse.has(off)) {
        this.inUse.add(off);
        return intToIp(this.base + off);
      }
    throw new Error('pod CIDR exhausted');
  }

  release(ip: string): void {
    this.inUse.delete(ipToInt(ip) - this.base);
  }
}

/** `ip:port`, with brackets for IPv6. */
export function hostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}
