// The detectors the gateway knows, one channel each. Keeping a channel per address (rather than
// one balanced channel) lets the gateway retry a failed chunk on a *different* detector, report
// latency per detector and know which detectors are ready: each is asked grpc.health.v1 for
// ssd.v1.Detector every healthIntervalMs, and only SERVING ones are picked while any exist.
import * as grpc from '@grpc/grpc-js';
import { loadSsdPackage, type DetectorClient } from '@edge-ssd/protos';
import { checkHealth, healthClient, type HealthClient, type Logger } from '@edge-ssd/service-kit';

export interface Detector {
  address: string;
  client: DetectorClient;
  healthy: boolean;
}

export interface DetectorSetOptions {
  credentials: grpc.ChannelCredentials;
  channelOptions: grpc.ChannelOptions;
  healthIntervalMs: number;
  log: Logger;
  /** Told whenever the number of healthy detectors changes. */
  onHealthChange?(healthy: number): void;
  /** Told when a detector leaves the set (its per-detector metrics go with it). */
  onRemoved?(address: string): void;
}

interface Member extends Detector {
  health: HealthClient;
  timer: NodeJS.Timeout;
}

export class DetectorSet {
  private readonly members = new Map<string, Member>();
  private next = 0;
  private lastHealthy = -1;

  constructor(private readonly options: DetectorSetOptions) {}

  get size(): number {
    return this.members.size;
  }

  get healthyCount(): number {
    let n = 0;
    for (const m of this.members.values()) if (m.healthy) n++;
    return n;
  }

  addresses(): string[] {
    return [...this.members.keys()];
  }

  /** Makes the set exactly `addresses`: channels to new ones, old ones closed. */
  update(addresses: readonly string[]): void {
    const wanted = new Set(addresses);
    for (const [address, member] of this.members) {
      if (wanted.has(address)) continue;
      clearInterval(member.timer);
      member.client.close();
      member.health.close();
      this.members.delete(address);
      this.options.log.info('detector removed', { address });
      this.options.onRemoved?.(address);
    }
    for (const address of wanted) {
      if (this.members.has(address)) continue;
      const { Detector } = loadSsdPackage();
      const { credentials, channelOptions } = this.options;
      const member: Member = {
        address,
        client: new Detector(address, credentials, channelOptions),
        health: healthClient(address, credentials, channelOptions),
        healthy: false,
        timer: setInterval(() => void this.probe(member), this.options.healthIntervalMs),
      };
      member.timer.unref();
      this.members.set(address, member);
      this.options.log.info('detector added', { address });
      void this.probe(member);
    }
    this.reportHealth();
  }

  /** Round robin over healthy detectors not in `exclude`; unhealthy ones only if no healthy one is left. */
  pick(exclude: ReadonlySet<string> = new Set()): Detector | undefined {
    const candidates = [...this.members.values()].filter((m) => !exclude.has(m.address));
    const healthy = candidates.filter((m) => m.healthy);
    const pool = healthy.length > 0 ? healthy : candidates;
    if (pool.length === 0) return undefined;
    this.next = (this.next + 1) % 1_000_000;
    return pool[this.next % pool.length];
  }

  /** A call to it failed in a way that says it is gone: stop picking it until it answers health again. */
  markUnhealthy(address: string): void {
    const member = this.members.get(address);
    if (member?.healthy) {
      member.healthy = false;
      this.reportHealth();
    }
  }

  close(): void {
    this.update([]);
  }

  private async probe(member: Member): Promise<void> {
    let healthy = false;
    try {
      healthy = (await checkHealth(member.health, 'ssd.v1.Detector', Date.now() + Math.max(500, this.options.healthIntervalMs))) === 'SERVING';
    } catch {
      healthy = false;
    }
    if (this.members.get(member.address) !== member || member.healthy === healthy) return;
    member.healthy = healthy;
    this.options.log.info(healthy ? 'detector ready' : 'detector not ready', { address: member.address });
    this.reportHealth();
  }

  private reportHealth(): void {
    const healthy = this.healthyCount;
    if (healthy === this.lastHealthy) return;
    this.lastHealthy = healthy;
    this.options.onHealthChange?.(healthy);
  }
}
