// Where detectors are: either one gRPC target that names them all (`dns:///detector:50052`
// in Kubernetes; grpc-js resolves and balances it) or a plain list of host:port addresses
// for local runs, one channel each.
import { ConfigError } from '@edge-ssd/service-kit';

export type DetectorTarget = { kind: 'resolver'; target: string } | { kind: 'list'; addresses: string[] };

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

export function parseDetectorTarget(text: string): DetectorTarget {
  const value = text.trim();
  if (/^[a-z][a-z0-9+.-]*:/i.test(value) && !HOST_PORT.test(value)) {
    // A URI with a scheme (dns:, ipv4:, unix:, ...): grpc-js validates it when dialling.
    return { kind: 'resolver', target: value };
  }
  const addresses = value.split(',').map((part) => part.trim()).filter((part) => part.length > 0);
  if (addresses.length === 0) throw new ConfigError('DETECTOR_TARGET is empty');
  for (const address of addresses) {
    const match = HOST_PORT.exec(address);
    if (!match || Number(match[2]) > 65535) {
      throw new ConfigError(`DETECTOR_TARGET entry "${address}" is not host:port (or use a gRPC target such as dns:///detector:50052)`);
    }
  }
  return { kind: 'list', addresses };
}
