// Original file: protos/ssd/v1/ssd.proto

/**
 * What a stream does when frames arrive faster than they are served.
 */
export const OverloadPolicy = {
  /**
   * OVERLOAD_POLICY_QUEUE.
   */
  OVERLOAD_POLICY_UNSPECIFIED: 'OVERLOAD_POLICY_UNSPECIFIED',
  /**
   * Every frame is served, max_in_flight at a time; the gateway stops reading the stream while
   * its window is full, so HTTP/2 flow control slows a client that sends faster.
   */
  OVERLOAD_POLICY_QUEUE: 'OVERLOAD_POLICY_QUEUE',
  /**
   * Bounded latency: a frame waiting for room is dropped as soon as a newer frame arrives, and
   * a frame past its max_latency_ms is dropped instead of started.
   */
  OVERLOAD_POLICY_LATEST: 'OVERLOAD_POLICY_LATEST',
} as const;

/**
 * What a stream does when frames arrive faster than they are served.
 */
export type OverloadPolicy =
  /**
   * OVERLOAD_POLICY_QUEUE.
   */
  | 'OVERLOAD_POLICY_UNSPECIFIED'
  | 0
  /**
   * Every frame is served, max_in_flight at a time; the gateway stops reading the stream while
   * its window is full, so HTTP/2 flow control slows a client that sends faster.
   */
  | 'OVERLOAD_POLICY_QUEUE'
  | 1
  /**
   * Bounded latency: a frame waiting for room is dropped as soon as a newer frame arrives, and
   * a frame past its max_latency_ms is dropped instead of started.
   */
  | 'OVERLOAD_POLICY_LATEST'
  | 2

/**
 * What a stream does when frames arrive faster than they are served.
 */
export type OverloadPolicy__Output = typeof OverloadPolicy[keyof typeof OverloadPolicy]
