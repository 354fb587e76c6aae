// Native thread pools sized to the CPUs this process may use, before anything starts them.
// libuv's pool (which runs sharp's decodes, and fs and DNS work) reads UV_THREADPOOL_SIZE when it
// is first used, so this module is imported first. libvips gets one thread per image (images are
// decoded in parallel instead, a bounded number at once) and no operation cache: a long-running
// service decodes each image once, and the cache's 50 MB would only be unbudgeted memory.
import sharp from 'sharp';

export function sizeNativePools(decodeConcurrency: number): void {
  // Decodes plus a few threads for fs and DNS, so a burst of decodes cannot starve them.
  process.env.UV_THREADPOOL_SIZE ??= String(Math.max(4, decodeConcurrency + 2));
  sharp.concurrency(1);
  sharp.cache(false);
}
