// TLS material from files: the public listener's certificate, and (optionally) mutual TLS from
// the gateway to the detectors.
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import type { GatewayConfig } from '../config';

export function serverCredentials(config: GatewayConfig): grpc.ServerCredentials {
  const { tlsCert, tlsKey } = config;
  if (!tlsCert || !tlsKey) return grpc.ServerCredentials.createInsecure();
  return grpc.ServerCredentials.createSsl(null, [{ cert_chain: readFileSync(tlsCert), private_key: readFileSync(tlsKey) }], false);
}

export function detectorCredentials(config: GatewayConfig): grpc.ChannelCredentials {
  const { detectorTlsCa, detectorTlsCert, detectorTlsKey } = config;
  if (!detectorTlsCa) return grpc.credentials.createInsecure();
  return grpc.credentials.createSsl(
    readFileSync(detectorTlsCa),
    detectorTlsKey ? readFileSync(detectorTlsKey) : null,
    detectorTlsCert ? readFileSync(detectorTlsCert) : null,
  );
}
