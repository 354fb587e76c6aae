// The HTTP API's pure parts: DeepStack's fields and statuses, our /v1/detect options and answer,
// the HTTP status of every gRPC outcome, and the admission an HTTP request shares with gRPC Detect.
import * as grpc from '@grpc/grpc-js';
import type { Detection, DetectResponse } from '@edge-ssd/protos';
import { ByteBudget } from '@edge-ssd/service-kit';
import { DEEPSTACK_MIN_CONFIDENCE, deepStackFailure, deepStackOptions, parseMinConfidence, toPredictions } from '../src/http/deepstack';
import { parseDetectOptions, toDetectJson } from '../src/http/detect-api';
import { loadGatewayConfig } from '../src/config';
import { ApiError, apiErrorOf, httpStatusOf } from '../src/http/errors';
import openapi from '../src/http/openapi.json';
import { Admission } from '../src/security/admission';
import { TokenAuth } from '../src/security/auth';

const detection = (label: string, score: number, pixel: [number, number, number, number]): Detection => ({
  classId: label === 'face' ? 1 : 15,
  label,
  score,
  box: { xmin: pixel[0] / 100, ymin: pixel[1] / 50, xmax: pixel[2] / 100, ymax: pixel[3] / 50 },
  pixelBox: { xmin: pixel[0], ymin: pixel[1], xmax: pixel[2], ymax: pixel[3] },
});

describe('DeepStack mapping', () => {
  it('reads min_confidence as DeepStack does: default 0.4, a number from 0 to 1, anything else a 400', () => {
    expect(parseMinConfidence(undefined)).toBe(DEEPSTACK_MIN_CONFIDENCE);
    expect(parseMinConfidence(' ')).toBe(0.4);
    expect(parseMinConfidence('0.65')).toBe(0.65);
    expect(parseMinConfidence('0')).toBe(0);
    for (const bad of ['1.5', '-0.1', 'high', 'NaN']) {
      expect(() => parseMinConfidence(bad)).toThrow(ApiError);
      try {
        parseMinConfidence(bad);
      } catch (error) {
        expect((error as ApiError).status).toBe(400);
      }
    }
  });

  it('sends the threshold to the detector, and 0 as "everything" rather than ssd.v1\'s "model default"', () => {
    expect(deepStackOptions(0.5).scoreThreshold).toBe(0.5);
    expect(deepStackOptions(0).scoreThreshold).toBeGreaterThan(0);
    expect(deepStackOptions(0).scoreThreshold).toBeLessThan(1e-3);
  });

  it('answers integer pixel boxes clipped to the image, labelled for detection and unlabelled for faces', () => {
    const image = { width: 100, height: 50 };
    const found = [detection('person', 0.9, [10.4, 5.6, 60.5, 40.49]), detection('dog', 0.3, [-7, -2, 120, 55.2]), detection('cat', 0.2, [1, 1, 2, 2])];
    expect(toPredictions(found, image, 'detection', 0.25)).toEqual([
      { label: 'person', confidence: 0.9, x_min: 10, y_min: 6, x_max: 61, y_max: 40 },
      { label: 'dog', confidence: 0.3, x_min: 0, y_min: 0, x_max: 100, y_max: 50 },
    ]);
    const faces = toPredictions([detection('face', 0.97, [181.1, 72.9, 264.4, 174.6])], { width: 512, height: 512 }, 'face', 0.4);
    expect(faces).toEqual([{ confidence: 0.97, x_min: 181, y_min: 73, x_max: 264, y_max: 175 }]);
    for (const p of faces) for (const k of ['x_min', 'y_min', 'x_max', 'y_max'] as const) expect(Number.isInteger(p[k])).toBe(true);
  });

  it('fails as DeepStack does: success false, an error message, an integer duration', () => {
    expect(deepStackFailure('invalid image', 12.7)).toEqual({ success: false, error: 'invalid image', duration: 13 });
  });
});

describe('/v1/detect', () => {
  it('reads ssd.v1 options by their proto names, 0 or absent being the model default', () => {
    expect(parseDetectOptions({}, 10)).toEqual({ scoreThreshold: 0, iouThreshold: 0, topK: 0, keepTopK: 0, classIds: [] });
    expect(parseDetectOptions({ score_threshold: '0.3', iou_threshold: '0.5', top_k: '50', keep_top_k: '20', class_ids: '15, 7' }, 10)).toEqual({
      scoreThreshold: 0.3,
      iouThreshold: 0.5,
      topK: 50,
      keepTopK: 20,
      classIds: [15, 7],
    });
  });

  it('refuses a misspelt option, a value out of range and more class ids than allowed, each a 400 naming it', () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ score: '0.5' }, /unknown option "score"/],
      [{ score_threshold: '2' }, /score_threshold must be a number from 0 to 1/],
      [{ top_k: '-1' }, /top_k must be a whole number/],
      [{ top_k: '1.5' }, /top_k must be a whole number/],
      [{ class_ids: '1,x' }, /class_ids entry must be a whole number/],
      [{ class_ids: '1,2,3' }, /class_ids has 3 entries; the limit is 2/],
    ];
    for (const [fields, message] of cases) {
      let caught: unknown;
      try {
        parseDetectOptions(fields, 2);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(ApiError);
      expect([(caught as ApiError).status, (caught as ApiError).message]).toEqual([400, expect.stringMatching(message)]);
    }
  });

  it('answers the image\'s size, normalised and pixel boxes, and the time taken', () => {
    const response: DetectResponse = { model: 'm', results: [{ id: '', status: { code: 0, message: '' }, width: 100, height: 50, detections: [detection('person', 0.9, [10, 5, 60, 40])] }] };
    expect(toDetectJson(response, 12.345)).toEqual({
      model: 'm',
      width: 100,
      height: 50,
      detections: [{ classId: 15, label: 'person', score: 0.9, box: { xmin: 0.1, ymin: 0.1, xmax: 0.6, ymax: 0.8 }, pixelBox: { xmin: 10, ymin: 5, xmax: 60, ymax: 40 } }],
      timing: { totalMs: 12.3 },
    });
  });

  it('is described by the OpenAPI document, with every route and error status the server answers', () => {
    expect(openapi.openapi).toMatch(/^3\./);
    expect(Object.keys(openapi.paths).sort()).toEqual(['/', '/openapi.json', '/v1/detect', '/v1/model', '/v1/vision/detection', '/v1/vision/face']);
    expect(Object.keys(openapi.paths['/v1/detect'].post.responses).sort()).toEqual(['200', '400', '401', '413', '415', '429', '503', '504']);
    expect(Object.keys(openapi.paths['/v1/vision/face'].post.responses)).toContain('404');
    expect(openapi.paths['/v1/detect'].post.parameters.map((p) => p.name)).toEqual(['score_threshold', 'iou_threshold', 'top_k', 'keep_top_k', 'class_ids']);
  });
});

describe('HTTP statuses', () => {
  it('tell whose fault a failure is: the request (4xx), the gateway\'s capacity (429/503, retry) or the detectors (502/504)', () => {
    const s = grpc.status;
    expect([s.OK, s.INVALID_ARGUMENT, s.UNAUTHENTICATED, s.PERMISSION_DENIED, s.UNAVAILABLE, s.DEADLINE_EXCEEDED, s.INTERNAL, s.UNKNOWN].map((c) => httpStatusOf(c, false))).toEqual([
      200, 400, 401, 403, 503, 504, 502, 502,
    ]);
    // RESOURCE_EXHAUSTED: an image over the pixel limit is too large; a whole call means overload.
    expect(httpStatusOf(s.RESOURCE_EXHAUSTED, true)).toBe(413);
    expect(httpStatusOf(s.RESOURCE_EXHAUSTED, false)).toBe(503);
    expect(apiErrorOf(s.UNAVAILABLE, 'no detector available').retryAfterSeconds).toBe(1);
    expect(apiErrorOf(s.INVALID_ARGUMENT, 'corrupt').retryAfterSeconds).toBeUndefined();
  });
});

describe('admission of an HTTP request', () => {
  const admission = (maxConcurrency: number, budgetBytes: number) =>
    new Admission({
      auth: new TokenAuth([]),
      maxConcurrency,
      maxMessageBytes: 1000,
      maxImagesPerRequest: 8,
      maxClassIds: 8,
      memoryWaitMs: 50,
      requests: new ByteBudget(budgetBytes, { name: 'request budget', maxWaiters: 4, maxWaitMs: 50 }),
      operational: new ByteBudget(2000, { name: 'ops', maxWaiters: 1, maxWaitMs: 0 }),
      requestFactor: 4,
    });

  it('counts against the concurrency limit of Detect calls, and frees its place when it ends', async () => {
    const a = admission(1, 1_000_000);
    const first = await a.admitRequest(100, Date.now() + 1000);
    expect('end' in first).toBe(true);
    const second = await a.admitRequest(100, Date.now() + 1000);
    expect(second).toEqual({ code: grpc.status.RESOURCE_EXHAUSTED, details: 'gateway is at its limit of 1 concurrent requests' });
    if ('end' in first) first.end();
    const third = await a.admitRequest(100, Date.now() + 1000);
    expect('end' in third).toBe(true);
  });

  it('reserves the body times the request factor, gives back what a smaller body does not need, and refuses a request that waited in vain', async () => {
    const a = admission(8, 4000);
    const big = await a.admitRequest(1000, Date.now() + 1000);
    if (!('end' in big)) throw new Error('refused');
    // The whole budget is held: another request waits, then is refused naming the budget.
    const refused = await a.admitRequest(10, Date.now() + 1000);
    expect(refused).toEqual({ code: grpc.status.RESOURCE_EXHAUSTED, details: expect.stringMatching(/request budget/) });
    big.shrinkTo(500);
    const next = await a.admitRequest(400, Date.now() + 1000);
    expect('end' in next).toBe(true);
  });
});

describe('HTTP configuration', () => {
  it('keeps the HTTP listener off unless set (0 = any free port), and refuses what is not a port', () => {
    expect(loadGatewayConfig({}).httpPort).toBeUndefined();
    expect(loadGatewayConfig({ GATEWAY_HTTP_PORT: '8080' }).httpPort).toBe(8080);
    expect(loadGatewayConfig({ GATEWAY_HTTP_PORT: '0' }).httpPort).toBe(0);
    expect(() => loadGatewayConfig({ GATEWAY_HTTP_PORT: 'on' })).toThrow('GATEWAY_HTTP_PORT must be an integer');
    expect(() => loadGatewayConfig({ GATEWAY_HTTP_PORT: '70000' })).toThrow('GATEWAY_HTTP_PORT must be <= 65535');
  });

  it('takes a pool of face detectors apart from the main one, naming its variable when it is wrong', () => {
    expect(loadGatewayConfig({}).faceDetectorTarget).toBeUndefined();
    expect(loadGatewayConfig({ GATEWAY_FACE_DETECTOR_TARGET: 'dns:///faces.edge.svc:50052' }).faceDetectorTarget).toEqual({ kind: 'dns', host: 'faces.edge.svc', port: 50052 });
    expect(() => loadGatewayConfig({ GATEWAY_FACE_DETECTOR_TARGET: 'faces' })).toThrow(/^GATEWAY_FACE_DETECTOR_TARGET entry "faces" is not host:port$/);
  });
});
