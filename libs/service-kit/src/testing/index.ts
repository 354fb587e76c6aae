// @edge-ssd/service-kit/testing: helpers for tests of the servers (never used by the product).

/** Waits (polling, bounded to ~10 s) until `condition` holds: for effects that cross the network. */
export async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1000 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!condition()) throw new Error(`timed out waiting until ${what}`);
}
