// Channels to the detectors. A resolver target gets one channel balanced by grpc-js itself
// (round_robin over every resolved address); an address list gets a channel per address,
// taken in turn.
import * as grpc from '@grpc/grpc-js';
import { loadSsdPackage } from '@edge-ssd/protos';
import type { DetectorTarget } from './detector-target';

export class DetectorClients {
  private readonly clients: grpc.Client[];
  private next = 0;

  constructor(target: DetectorTarget, maxMessageBytes: number) {
    const { Detector } = loadSsdPackage();
    const options: grpc.ChannelOptions = {
      'grpc.max_receive_message_length': maxMessageBytes,
      'grpc.max_send_message_length': maxMessageBytes,
      'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
    };
    const targets = target.kind === 'resolver' ? [target.target] : target.addresses;
    this.clients = targets.map((t) => new Detector(t, grpc.credentials.createInsecure(), options));
  }

  pick(): grpc.Client {
    const client = this.clients[this.next % this.clients.length]!;
    this.next = (this.next + 1) % this.clients.length;
    return client;
  }

  close(): void {
    for (const client of this.clients) client.close();
  }
}
