// Bearer-token authentication for the public service. Tokens come from GATEWAY_AUTH_TOKENS
// (comma-separated) or GATEWAY_AUTH_TOKENS_FILE (one per line); with none configured the gateway
// is open. Health and reflection stay open so probes and grpcurl work without credentials.
import { createHash, timingSafeEqual } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';

export class TokenAuth {
  private readonly digests: Buffer[];

  constructor(tokens: readonly string[]) {
    // Compare digests, so every comparison has the same length and takes the same time.
    this.digests = tokens.map(digest);
  }

  get enabled(): boolean {
    return this.digests.length > 0;
  }

  /** undefined when the call may proceed, else the error to answer with. */
  check(metadata: grpc.Metadata): grpc.ServiceError | undefined {
    if (!this.enabled) return undefined;
    const header = metadata.get('authorization')[0];
    const match = typeof header === 'string' ? /^Bearer\s+(\S+)$/i.exec(header.trim()) : null;
    if (!match) return unauthenticated('missing bearer token (metadata "authorization: Bearer <token>")');
    const presented = digest(match[1]!);
    let ok = false;
    for (const known of this.digests) ok = timingSafeEqual(known, presented) || ok;
    return ok ? undefined : unauthenticated('invalid token');
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

function unauthenticated(details: string): grpc.ServiceError {
  return Object.assign(new Error(details), { code: grpc.status.UNAUTHENTICATED, details, metadata: new grpc.Metadata() });
}

/** Tokens from a file: one per line, blank lines and # comments skipped. */
export function parseTokenFile(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .filter((line) => line !== '');
}
