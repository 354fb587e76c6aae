// Turns a DetectorTarget into the current set of detector addresses (ip:port).
import { lookup } from 'node:dns/promises';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { parseTargetFile, type DetectorTarget, type HostPort } from './detector-target';

function formatAddress(ip: string, port: number): string {
  return isIP(ip) === 6 ? `[${ip}]:${port}` : `${ip}:${port}`;
}

async function resolveHost({ host, port }: HostPort): Promise<string[]> {
  if (isIP(host)) return [formatAddress(host, port)];
  const found = await lookup(host, { all: true });
  return found.map((a) => formatAddress(a.address, port));
}

/** Sorted, de-duplicated addresses; rejects only when nothing could be resolved at all. */
export async function resolveTarget(target: DetectorTarget): Promise<string[]> {
  let entries: HostPort[];
  if (target.kind === 'dns') entries = [{ host: target.host, port: target.port }];
  else if (target.kind === 'static') entries = target.entries;
  else entries = parseTargetFile(await readFile(target.path, 'utf8'), target.path);
  const settled = await Promise.allSettled(entries.map(resolveHost));
  const addresses = settled.flatMap((r) => (r.status === 'fulfilled' ? r.value : []));
  const failure = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (addresses.length === 0 && failure) throw failure.reason;
  return [...new Set(addresses)].sort();
}
