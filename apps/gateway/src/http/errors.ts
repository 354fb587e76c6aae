// What an HTTP client is told when a request fails: a status that says whose fault it is and
// whether to retry, and a message with no address, path or stack in it (the same words gRPC
// clients get; the details go to the log).
import * as grpc from '@grpc/grpc-js';

/** A failure with the HTTP status it is answered with. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    message: string,
    /** Seconds after which a retry may succeed (Retry-After), for overload. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

/** 499, nginx's "client closed request": logged and counted, never seen by the client. */
export const CLIENT_CLOSED = 499;

/**
 * The HTTP status of a gRPC outcome. `perImage`: the status is the image's own (ImageResult.status),
 * not the call's: RESOURCE_EXHAUSTED then means this image is too large (413); for a whole call it
 * means the detectors are overloaded (503).
 */
export function httpStatusOf(code: grpc.status, perImage: boolean): number {
  switch (code) {
    case grpc.status.OK:
      return 200;
    case grpc.status.INVALID_ARGUMENT:
    case grpc.status.OUT_OF_RANGE:
      return 400;
    case grpc.status.UNAUTHENTICATED:
      return 401;
    case grpc.status.PERMISSION_DENIED:
      return 403;
    case grpc.status.RESOURCE_EXHAUSTED:
      return perImage ? 413 : 503;
    case grpc.status.UNAVAILABLE:
      return 503;
    case grpc.status.DEADLINE_EXCEEDED:
      return 504;
    case grpc.status.CANCELLED:
      return CLIENT_CLOSED;
    default:
      // The detectors failed (INTERNAL, UNKNOWN, ...): the gateway got no valid answer upstream.
      return 502;
  }
}

/** The ApiError for a gRPC outcome; overload carries a Retry-After of one second. */
export function apiErrorOf(code: grpc.status, message: string, perImage = false): ApiError {
  const status = httpStatusOf(code, perImage);
  return new ApiError(status, message, status === 503 || status === 429 ? 1 : undefined);
}
