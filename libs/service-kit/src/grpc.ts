import * as grpc from '@grpc/grpc-js';

export function bindServer(server: grpc.Server, address: string, credentials = grpc.ServerCredentials.createInsecure()): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, credentials, (error, port) => (error ? reject(error) : resolve(port)));
  });
}

export function shutdownServer(server: grpc.Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    timer.unref();
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** A gRPC error to hand to a unary callback. */
export function grpcError(code: grpc.status, details: string): grpc.ServiceError {
  return Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() });
}

export function statusName(code: number): string {
  return grpc.status[code] ?? `UNKNOWN_STATUS_${code}`;
}

export const MiB = 1024 * 1024;

type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (error: grpc.ServiceError | null, response?: Res) => void,
) => grpc.ClientUnaryCall;

/**
 * Calls a unary method of a client made by loadPackageDefinition, as a promise. Aborting `signal`
 * cancels the call (it then rejects with CANCELLED).
 */
export function callUnary<Req, Res>(
  client: grpc.Client,
  method: string,
  request: Req,
  options: grpc.CallOptions = {},
  metadata: grpc.Metadata = new grpc.Metadata(),
  signal?: AbortSignal,
): Promise<Res> {
  const fn = (client as unknown as Record<string, UnaryMethod<Req, Res> | undefined>)[method];
  if (typeof fn !== 'function') return Promise.reject(new Error(`client has no method ${method}`));
  if (signal?.aborted) return Promise.reject(grpcError(grpc.status.CANCELLED, 'cancelled'));
  return new Promise((resolve, reject) => {
    const onAbort = (): void => call.cancel();
    const call = fn.call(client, request, metadata, options, (error, response) => {
      signal?.removeEventListener('abort', onAbort);
      if (error) reject(error);
      else resolve(response as Res);
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A service implementation that answers UNAVAILABLE until the real one is set, so a server can
 * listen (and report NOT_SERVING on health) while its model is still loading.
 */
export function createDeferredService(methods: string[], notReady: string): {
  implementation: grpc.UntypedServiceImplementation;
  resolve(target: grpc.UntypedServiceImplementation): void;
} {
  let target: grpc.UntypedServiceImplementation | undefined;
  const implementation = Object.fromEntries(
    methods.map((method) => [
      method,
      (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        const real = target?.[method] as grpc.handleUnaryCall<unknown, unknown> | undefined;
        if (real) real(call, callback);
        else callback(grpcError(grpc.status.UNAVAILABLE, notReady));
      },
    ]),
  );
  return { implementation, resolve: (t) => (target = t) };
}

export function isServiceError(error: unknown): error is grpc.ServiceError {
  return error instanceof Error && typeof (error as Partial<grpc.ServiceError>).code === 'number';
}

/** A call's deadline as epoch milliseconds; Infinity when the caller set none. */
export function callDeadline(call: { getDeadline(): grpc.Deadline }): number {
  const deadline = call.getDeadline();
  return deadline instanceof Date ? deadline.getTime() : deadline;
}

/**
 * Answers a unary call with the outcome of `work`: a gRPC error passes through as it is, any
 * other failure is logged and answered INTERNAL (internals never reach the caller). `done`
 * hears the final status code and the response, for metrics.
 */
export function reply<T>(
  work: Promise<T>,
  callback: grpc.sendUnaryData<T>,
  log: { error(msg: string, fields?: Record<string, unknown>): void },
  done: (code: grpc.status, response?: T) => void = () => undefined,
): void {
  work.then(
    (response) => {
      done(grpc.status.OK, response);
      callback(null, response);
    },
    (error: unknown) => {
      const serviceError = isServiceError(error) ? error : grpcError(grpc.status.INTERNAL, 'internal error');
      if (!isServiceError(error)) log.error('call failed', { err: error });
      done(serviceError.code);
      callback(serviceError);
    },
  );
}
