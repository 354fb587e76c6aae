// Where detectors are, as the operator writes it in DETECTOR_TARGET:
// - `dns:///detector.ns.svc.cluster.local:50052`: every address the name resolves to (a
//   headless Service lists one per ready pod), re-resolved periodically;
// - `file:///etc/edge-ssd/detectors`: host:port lines in a file, re-read periodically;
// - `host:port,host:port`: a fixed list (each host still resolved, so a name may stand for several).
import { ConfigError } from '@edge-ssd/service-kit';

export interface HostPort {
  host: string;
  port: number;
}

export type DetectorTarget =
  | { kind: 'dns'; host: string; port: number }
  | { kind: 'file'; path: string }
  | { kind: 'static'; entries: HostPort[] };

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/;

function parseHostPort(text: string, what: string): HostPort {
  const match = HOST_PORT.exec(text.trim());
  const port = match ? Number(match[2]) : NaN;
  if (!match || port < 1 || port > 65535) throw new ConfigError(`${what} "${text}" is not host:port`);
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
}

export function parseDetectorTarget(text: string): DetectorTarget {
  const value = text.trim();
  const dns = /^dns:(?:\/\/[^/]*\/)?(.+)$/.exec(value);
  if (dns) {
    const { host, port } = parseHostPort(dns[1]!, 'DETECTOR_TARGET dns name');
    return { kind: 'dns', host, port };
  }
  const file = /^file:\/\/(\/.+)$/.exec(value);
  if (file) return { kind: 'file', path: file[1]! };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value) || /^(ipv4|ipv6|unix|xds):/i.test(value)) {
    throw new ConfigError(`DETECTOR_TARGET scheme not supported: "${value}" (use dns:///name:port, file:///path or host:port,host:port)`);
  }
  const entries = value.split(',').map((part) => part.trim()).filter((part) => part !== '');
  if (entries.length === 0) throw new ConfigError('DETECTOR_TARGET is empty');
  return { kind: 'static', entries: entries.map((entry) => parseHostPort(entry, 'DETECTOR_TARGET entry')) };
}

/** Parses the host:port lines of a detector list file; blank lines and # comments are skipped. */
export function parseTargetFile(text: string, path: string): HostPort[] {
  return text
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .filter((line) => line !== '')
    .map((line) => parseHostPort(line, `${path} line`));
}
