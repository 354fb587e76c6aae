// The gateway's HTTP listener (GATEWAY_HTTP_PORT): DeepStack's vision routes, our own
// POST /v1/detect described by /openapi.json, GET /v1/model, and the demo page at /.
//
// A detection request passes the gates of a gRPC Detect call before its body is read: the bearer
// token when it comes as a header, the concurrency limit Detect calls count against, and its
// Content-Length's worth (else the largest body's) of the request memory budget, shrunk to what
// was read. A DeepStack client sends its key in the form (`api_key`): it is checked as soon as that
// field arrives, before the image is read when it comes first (as Python `requests` sends it).
// The image then goes through the same dispatcher as gRPC: chunking, deadline, retries on other
// detectors, cancellation when the client leaves.
import { readdirSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import * as grpc from '@grpc/grpc-js';
import type { DetectOptions, DetectRequest, DetectResponse } from '@edge-ssd/protos';
import { isServiceError, type Logger } from '@edge-ssd/service-kit';
import type { Admission, AdmittedRequest } from '../security/admission';
import type { TokenAuth } from '../security/auth';
import { forClient } from '../service/dispatch';
import { deepStackFailure, deepStackOptions, parseMinConfidence, toPredictions, type DeepStackAnswer, type DeepStackRoute } from './deepstack';
import { parseDetectOptions, toDetectJson } from './detect-api';
import { ApiError, apiErrorOf, CLIENT_CLOSED } from './errors';
import openapi from './openapi.json';
import type { DetectorPool } from './pool';

interface HttpObserver {
  request(route: string, status: number, seconds: number): void;
  image(code: grpc.status): void;
}

export interface HttpDeps {
  admission: Pick<Admission, 'admitRequest'>;
  auth: TokenAuth;
  /** Detectors for /v1/detect and /v1/vision/detection. */
  pool: DetectorPool;
  /** Detectors for /v1/vision/face: their model must have a "face" label. */
  facePool: DetectorPool;
  /** Largest image (GATEWAY_MAX_MESSAGE_BYTES, as for gRPC). */
  maxImageBytes: number;
  maxClassIds: number;
  /** Deadline of a request's detector calls (HTTP has no deadline of its own). */
  deadlineMs: number;
  /** The demo page's files. */
  staticDir: string;
  log: Logger;
  observe?: HttpObserver;
  tls?: { cert: Buffer; key: Buffer };
}

export interface HttpServer {
  port: number;
  /** Stops taking requests and waits for those in flight, closing every connection after graceMs. */
  close(graceMs: number): Promise<void>;
}

/** Room for a multipart form's boundaries, headers and option fields around its image. */
const FORM_OVERHEAD_BYTES = 64 * 1024;
const FIELD_BYTES = 16 * 1024;

interface RequestState {
  started: bigint;
  deadline: number;
  /** Aborted when the client leaves before its answer: the detector calls are cancelled. */
  abort: AbortController;
  authenticated: boolean;
  admitted?: AdmittedRequest;
}

type Route = 'detect' | DeepStackRoute;
const ROUTES: Record<string, Route> = { '/v1/detect': 'detect', '/v1/vision/detection': 'detection', '/v1/vision/face': 'face' };

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

/** Nothing on the page may load from anywhere but the gateway. */
const PAGE_POLICY = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

function elapsedMs(state: RequestState | undefined): number {
  return state ? Number(process.hrtime.bigint() - state.started) / 1e6 : 0;
}

function checkToken(auth: TokenAuth, token: string | undefined, asHeader: boolean): void {
  if (token === undefined || token.trim() === '') throw new ApiError(401, asHeader ? 'missing bearer token' : 'missing api_key');
  const metadata = new grpc.Metadata();
  metadata.set('authorization', asHeader ? token : `Bearer ${token.trim()}`);
  const refused = auth.check(metadata);
  if (refused) throw new ApiError(401, refused.details);
}

/** A refusal of admission as an HTTP error: the gateway's own limits are 429, to be retried. */
function refusalError(refusal: { code: grpc.status; details: string }): ApiError {
  if (refusal.code === grpc.status.RESOURCE_EXHAUSTED) return new ApiError(429, refusal.details, 1);
  return apiErrorOf(refusal.code, refusal.details);
}

/** A detector's failure as the client may see it (forClient: no address, no upstream wording). */
async function upstream<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (!isServiceError(error)) throw error;
    const forUser = forClient(error);
    throw apiErrorOf(forUser.code, forUser.details);
  }
}

function statusOf(error: unknown): number {
  if (error instanceof ApiError) return error.status;
  const code = (error as { statusCode?: unknown }).statusCode;
  // Fastify's and the multipart parser's own refusals (413 too large, 415 media type, ...).
  return typeof code === 'number' && code >= 400 && code < 500 ? code : 500;
}

export async function startHttpServer(deps: HttpDeps, host: string, port: number): Promise<HttpServer> {
  const app = buildApp(deps);
  await app.listen({ host, port });
  const bound = (app.server.address() as AddressInfo).port;
  return {
    port: bound,
    close: async (graceMs) => {
      const timer = setTimeout(() => app.server.closeAllConnections(), graceMs);
      try {
        await app.close();
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

function buildApp(deps: HttpDeps): FastifyInstance {
  const { auth, log } = deps;
  const maxBodyBytes = deps.maxImageBytes + FORM_OVERHEAD_BYTES;
  const options = {
    logger: false,
    bodyLimit: maxBodyBytes,
    // A client that trickles its body is cut off when a detector call would have been.
    requestTimeout: deps.deadlineMs,
    return503OnClosing: true,
    forceCloseConnections: 'idle' as const,
  };
  const app = (deps.tls ? Fastify({ ...options, https: deps.tls }) : Fastify(options)) as unknown as FastifyInstance;
  const states = new WeakMap<FastifyRequest, RequestState>();
  const routeOf = (request: FastifyRequest): Route | undefined => ROUTES[request.routeOptions.url ?? ''];

  // Only the bodies the routes read: an image (or any bytes: the detector judges them) and forms.
  app.removeAllContentTypeParsers();
  for (const type of ['application/octet-stream', /^image\//]) app.addContentTypeParser(type, { parseAs: 'buffer', bodyLimit: deps.maxImageBytes }, (_request, body, done) => done(null, body));
  void app.register(multipart, { throwFileSizeLimit: true });

  app.addHook('onRequest', async (request, reply) => {
    if (routeOf(request) === undefined) return;
    const state: RequestState = { started: process.hrtime.bigint(), deadline: Date.now() + deps.deadlineMs, abort: new AbortController(), authenticated: !auth.enabled };
    states.set(request, state);
    reply.raw.once('close', () => {
      state.admitted?.end();
      if (!reply.raw.writableFinished) state.abort.abort();
    });
    const header = request.headers.authorization;
    if (auth.enabled && header !== undefined) {
      checkToken(auth, header, true);
      state.authenticated = true;
    }
    const length = Number(request.headers['content-length'] ?? NaN);
    if (length > maxBodyBytes) throw new ApiError(413, `request body of ${length} bytes is larger than the limit of ${maxBodyBytes}`);
    const admitted = await deps.admission.admitRequest(Number.isFinite(length) ? length : maxBodyBytes, state.deadline, state.abort.signal);
    if ('code' in admitted) throw refusalError(admitted);
    if (state.abort.signal.aborted) {
      admitted.end();
      throw new ApiError(CLIENT_CLOSED, 'cancelled');
    }
    state.admitted = admitted;
  });

  app.addHook('onResponse', async (request, reply) => {
    deps.observe?.request(request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
  });

  app.setErrorHandler((error, request, reply) => {
    const status = statusOf(error);
    const message = status === 500 ? 'internal error' : (error as Error).message;
    if (status >= 500) log.warn('http request failed', { route: request.routeOptions.url, status, err: error });
    if (error instanceof ApiError && error.retryAfterSeconds !== undefined) void reply.header('retry-after', String(error.retryAfterSeconds));
    if (!request.raw.complete) {
      // Answered before the whole body was read. A body too large is not read: the connection goes
      // with it. Any other is read to its end and dropped, so the client, still sending, gets the
      // answer, and the connection is not left stalled with unread bytes (it would hold the drain).
      if (status === 413) void reply.header('connection', 'close');
      else request.raw.unpipe().resume();
    }
    const route = routeOf(request);
    const body = route === 'detection' || route === 'face' ? deepStackFailure(message, elapsedMs(states.get(request))) : { error: { status, message } };
    void reply.code(status).send(body);
  });

  app.setNotFoundHandler((request, reply) => {
    const message = `no route ${request.method} ${request.url.split('?')[0]}`;
    void reply.code(404).send(request.url.startsWith('/v1/vision/') ? deepStackFailure(message, 0) : { error: { status: 404, message } });
  });

  /** The image and text fields of a request: a multipart form's, or the raw body and the query's. */
  async function readRequest(request: FastifyRequest, state: RequestState, route: Route): Promise<{ image: Buffer; fields: Record<string, string> }> {
    const fields: Record<string, string> = {};
    let image: Buffer | undefined;
    let bytes = 0;
    if (request.isMultipart()) {
      const parts = request.parts({ limits: { fileSize: deps.maxImageBytes, files: 1, fields: 16, fieldSize: FIELD_BYTES, fieldNameSize: 64, parts: 17 } });
      for await (const part of parts) {
        if (part.type === 'file') {
          if (part.fieldname !== 'image') throw new ApiError(400, `unexpected file field "${part.fieldname}": send the image as the field "image"`);
          image = await part.toBuffer();
          bytes += image.length;
          continue;
        }
        if (part.valueTruncated) throw new ApiError(400, `form field "${part.fieldname}" is longer than ${FIELD_BYTES} bytes`);
        const value = String(part.value);
        bytes += value.length;
        if (part.fieldname === 'api_key') {
          // Checked at once: a wrong key arriving before the image stops the request unread.
          if (!state.authenticated) checkToken(auth, value, false);
          state.authenticated = true;
        } else if (part.fieldname === 'image') {
          throw new ApiError(400, 'the field "image" must be a file');
        } else {
          fields[part.fieldname] = value;
        }
      }
    } else if (Buffer.isBuffer(request.body) && route === 'detect') {
      image = request.body;
      bytes = image.length;
    } else {
      throw new ApiError(route === 'detect' ? 415 : 400, route === 'detect' ? 'send the image as the body (image/* or application/octet-stream) or as the multipart field "image"' : 'No valid image file was found: send a multipart form with the image in the field "image"');
    }
    state.admitted?.shrinkTo(bytes);
    if (!state.authenticated) checkToken(auth, undefined, route === 'detect');
    if (!image || image.length === 0) throw new ApiError(400, 'No valid image file was found: send the image in the field "image"');
    // The query string carries options too (curl -F is as easy as ?top_k=10).
    for (const [name, value] of Object.entries(request.query as Record<string, unknown>)) if (typeof value === 'string' && !(name in fields)) fields[name] = value;
    return { image, fields };
  }

  /** One image through the dispatcher; its own failure (corrupt, too large) as an ApiError. */
  async function detectOne(pool: DetectorPool, state: RequestState, image: Buffer, options: DetectOptions): Promise<DetectResponse> {
    const request: DetectRequest = { images: [{ id: '', encoded: image, source: 'encoded' }], options };
    const response = await upstream(pool.detect(request, { deadline: state.deadline, signal: state.abort.signal }));
    const result = response.results[0]!;
    const code = result.status?.code ?? grpc.status.UNKNOWN;
    deps.observe?.image(code);
    if (code !== grpc.status.OK) throw apiErrorOf(code, result.status?.message || 'image failed', true);
    return response;
  }

  async function faceModelCheck(state: RequestState): Promise<void> {
    const info = await upstream(deps.facePool.modelInfo(state.deadline, state.abort.signal));
    if (!info.labels.includes('face')) throw new ApiError(404, `face detection is not served here: the detectors serve ${info.name}, which has no "face" label`);
  }

  async function deepStack(route: DeepStackRoute, request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const state = states.get(request)!;
    const { image, fields } = await readRequest(request, state, route);
    const minConfidence = parseMinConfidence(fields.min_confidence);
    if (route === 'face') await faceModelCheck(state);
    const result = (await detectOne(route === 'face' ? deps.facePool : deps.pool, state, image, deepStackOptions(minConfidence))).results[0]!;
    const detections = route === 'face' ? result.detections.filter((d) => d.label === 'face') : result.detections;
    const duration = elapsedMs(state);
    void reply.header('server-timing', `total;dur=${duration.toFixed(1)}`);
    const answer: DeepStackAnswer = { success: true, predictions: toPredictions(detections, result, route, minConfidence), duration: Math.round(duration) };
    await reply.send(answer);
  }

  app.post('/v1/vision/detection', (request, reply) => deepStack('detection', request, reply));
  app.post('/v1/vision/face', (request, reply) => deepStack('face', request, reply));

  app.post('/v1/detect', async (request, reply) => {
    const state = states.get(request)!;
    const { image, fields } = await readRequest(request, state, 'detect');
    const response = await detectOne(deps.pool, state, image, parseDetectOptions(fields, deps.maxClassIds));
    const duration = elapsedMs(state);
    void reply.header('server-timing', `total;dur=${duration.toFixed(1)}`);
    await reply.send(toDetectJson(response, duration));
  });

  app.get('/v1/model', async (request) => {
    if (auth.enabled) checkToken(auth, request.headers.authorization, true);
    return upstream(deps.pool.modelInfo(Date.now() + deps.deadlineMs));
  });

  app.get('/openapi.json', async () => openapi);

  for (const name of readdirSync(deps.staticDir)) {
    const type = CONTENT_TYPES[path.extname(name)];
    if (!type) continue;
    const body = readFileSync(path.join(deps.staticDir, name));
    const headers = { 'content-type': type, 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff', 'content-security-policy': PAGE_POLICY };
    const serve = async (_request: FastifyRequest, reply: FastifyReply) => reply.headers(headers).send(body);
    app.get(`/${name}`, serve);
    if (name === 'index.html') app.get('/', serve);
  }
  return app;
}
