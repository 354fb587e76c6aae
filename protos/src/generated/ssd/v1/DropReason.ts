// Original file: protos/ssd/v1/ssd.proto

/**
 * Why a frame was answered without being detected.
 */
export const DropReason = {
  /**
   * Not dropped: the frame was detected (or failed on its own, see result.status).
   */
  DROP_REASON_UNSPECIFIED: 'DROP_REASON_UNSPECIFIED',
  /**
   * OVERLOAD_POLICY_LATEST: a newer frame arrived while this one waited.
   */
  DROP_REASON_SUPERSEDED: 'DROP_REASON_SUPERSEDED',
  /**
   * OVERLOAD_POLICY_LATEST: it could no longer be answered within its max_latency_ms.
   */
  DROP_REASON_STALE: 'DROP_REASON_STALE',
} as const;

/**
 * Why a frame was answered without being detected.
 */
export type DropReason =
  /**
   * Not dropped: the frame was detected (or failed on its own, see result.status).
   */
  | 'DROP_REASON_UNSPECIFIED'
  | 0
  /**
   * OVERLOAD_POLICY_LATEST: a newer frame arrived while this one waited.
   */
  | 'DROP_REASON_SUPERSEDED'
  | 1
  /**
   * OVERLOAD_POLICY_LATEST: it could no longer be answered within its max_latency_ms.
   */
  | 'DROP_REASON_STALE'
  | 2

/**
 * Why a frame was answered without being detected.
 */
export type DropReason__Output = typeof DropReason[keyof typeof DropReason]
