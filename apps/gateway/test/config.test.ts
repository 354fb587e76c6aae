import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { loadGatewayConfig } from '../src/config';
import { parseDetectorTarget, parseTargetFile } from '../src/upstream/detector-target';

describe('gateway configuration', () => {
  it('defaults to an open plaintext listener on 50051 in front of a local detector', () => {
    const config = loadGatewayConfig({});
    expect(config).toMatchObject({ port: 50051, metricsPort: 9465, chunkSize: 8, maxAttempts: 3, attemptTimeoutMs: 5000, authTokens: [], tlsCert: undefined });
    expect(config.detectorTarget).toEqual({ kind: 'static', entries: [{ host: '127.0.0.1', port: 50052 }] });
  });

  it('reads bearer tokens from the variable and the file, skipping comments', () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'gw-tokens-')), 'tokens');
    writeFileSync(file, '# ops\nalpha\n\n beta \n');
    expect(loadGatewayConfig({ GATEWAY_AUTH_TOKENS: 'one, two', GATEWAY_AUTH_TOKENS_FILE: file }).authTokens).toEqual(['one', 'two', 'alpha', 'beta']);
    expect(() => loadGatewayConfig({ GATEWAY_AUTH_TOKENS_FILE: '/nonexistent/tokens' })).toThrow('GATEWAY_AUTH_TOKENS_FILE /nonexistent/tokens');
  });

  it('refuses half-configured TLS', () => {
    expect(() => loadGatewayConfig({ GATEWAY_TLS_CERT: '/c.pem' })).toThrow('GATEWAY_TLS_CERT and GATEWAY_TLS_KEY go together');
    expect(() => loadGatewayConfig({ GATEWAY_DETECTOR_TLS_CERT: '/c', GATEWAY_DETECTOR_TLS_KEY: '/k' })).toThrow('needs GATEWAY_DETECTOR_TLS_CA');
  });

  it('keeps the retry backoff ceiling above its start', () => {
    expect(() => loadGatewayConfig({ GATEWAY_RETRY_INITIAL_BACKOFF_MS: '500', GATEWAY_RETRY_MAX_BACKOFF_MS: '100' })).toThrow('GATEWAY_RETRY_MAX_BACKOFF_MS must be >= 500');
  });
});

describe('detector targets', () => {
  it('understand DNS names, list files and host:port lists', () => {
    expect(parseDetectorTarget('dns:///detector.edge.svc.cluster.local:50052')).toEqual({ kind: 'dns', host: 'detector.edge.svc.cluster.local', port: 50052 });
    expect(parseDetectorTarget('dns:detector:7')).toEqual({ kind: 'dns', host: 'detector', port: 7 });
    expect(parseDetectorTarget('file:///etc/edge-ssd/detectors')).toEqual({ kind: 'file', path: '/etc/edge-ssd/detectors' });
    expect(parseDetectorTarget('a:1, [::1]:2')).toEqual({ kind: 'static', entries: [{ host: 'a', port: 1 }, { host: '::1', port: 2 }] });
  });

  it('reject what they cannot dial, naming it', () => {
    expect(() => parseDetectorTarget('')).toThrow('DETECTOR_TARGET is empty');
    expect(() => parseDetectorTarget('detector')).toThrow('DETECTOR_TARGET entry "detector" is not host:port');
    expect(() => parseDetectorTarget('a:70000')).toThrow('is not host:port');
    expect(() => parseDetectorTarget('unix:///run/detector.sock')).toThrow('scheme not supported');
  });

  it('read list files line by line', () => {
    expect(parseTargetFile('# pool\n10.0.0.1:50052\n\n10.0.0.2:50052 # spare\n', 'f')).toEqual([
      { host: '10.0.0.1', port: 50052 },
      { host: '10.0.0.2', port: 50052 },
    ]);
    expect(() => parseTargetFile('10.0.0.1\n', 'f')).toThrow('f line "10.0.0.1" is not host:port');
  });
});
