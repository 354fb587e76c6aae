import * as path from 'node:path';
import { MiB } from '@edge-ssd/service-kit';
import { loadDetectorConfig } from '../src/config';

describe('detector configuration', () => {
  it('defaults to the built-in face model, one run at a time on every granted CPU, and one worker preparing the next', () => {
    const config = loadDetectorConfig({}, { cpus: 6 });
    expect(config).toMatchObject({ port: 50052, host: '0.0.0.0', builtinModel: 'faceapi-ssd-mobilenetv1', poolSize: 2, intraOpThreads: 6, concurrentRuns: 1, maxBatch: 8, imagePath: 'exact' });
    expect(config.modelPath).toBe(path.resolve('models/faceapi-ssd-mobilenetv1.onnx'));
  });

  it('finds another built-in model by name in ./models, and refuses a name that is a path', () => {
    const config = loadDetectorConfig({ MODEL_NAME: 'mobilenet-ssd-voc-300' }, { cpus: 2 });
    expect(config).toMatchObject({ builtinModel: 'mobilenet-ssd-voc-300', modelPath: path.resolve('models/mobilenet-ssd-voc-300.onnx') });
    expect(() => loadDetectorConfig({ MODEL_NAME: '../etc/passwd' }, { cpus: 2 })).toThrow("MODEL_NAME must be a model name such as faceapi-ssd-mobilenetv1, got '../etc/passwd'");
  });

  it('keeps runs x threads within the CPUs when only threads are set, with one more worker than runs', () => {
    expect(loadDetectorConfig({ DETECTOR_INTRA_OP_THREADS: '2' }, { cpus: 6 })).toMatchObject({ concurrentRuns: 3, poolSize: 4 });
    expect(loadDetectorConfig({ DETECTOR_INTRA_OP_THREADS: '4' }, { cpus: 2 })).toMatchObject({ concurrentRuns: 1, poolSize: 2 });
    // More runs than workers is no gate at all.
    expect(loadDetectorConfig({ DETECTOR_INTRA_OP_THREADS: '1', DETECTOR_POOL_SIZE: '2' }, { cpus: 2 })).toMatchObject({ concurrentRuns: 2, poolSize: 2 });
  });

  it('serves an explicit MODEL_PATH without generating anything', () => {
    const config = loadDetectorConfig({ MODEL_PATH: '/models/face.onnx', DETECTOR_POOL_SIZE: '3' }, { cpus: 2 });
    expect(config).toMatchObject({ modelPath: '/models/face.onnx', builtinModel: undefined, poolSize: 3 });
  });

  it('sizes its largest message to the memory limit: the cgroup limit, or DETECTOR_MEMORY_LIMIT', () => {
    expect(loadDetectorConfig({}, { cpus: 2, memoryBytes: 1024 * MiB })).toMatchObject({ memoryLimit: { bytes: 1024 * MiB, source: 'cgroup' }, maxMessageBytes: 32 * MiB });
    expect(loadDetectorConfig({ DETECTOR_MEMORY_LIMIT: '1536Mi' }, { cpus: 2 })).toMatchObject({ memoryLimit: { bytes: 1536 * MiB, source: 'env' }, maxMessageBytes: 48 * MiB });
    expect(loadDetectorConfig({ DETECTOR_MEMORY_LIMIT: '8Gi' }, { cpus: 2, memoryBytes: 1024 * MiB }).maxMessageBytes).toBe(64 * MiB);
    expect(loadDetectorConfig({}, { cpus: 2 }).memoryLimit.source).toBe('fallback');
    expect(() => loadDetectorConfig({ DETECTOR_MEMORY_LIMIT: 'lots' }, { cpus: 2 })).toThrow('DETECTOR_MEMORY_LIMIT must be a byte count such as 1073741824, 1024Mi or 1Gi, got "lots"');
  });

  it('refuses option maxima whose largest response could not be sent', () => {
    expect(() => loadDetectorConfig({ DETECTOR_MAX_KEEP_TOP_K: '100000', DETECTOR_MAX_MESSAGE_BYTES: '1048576' }, { cpus: 2 })).toThrow(/DETECTOR_MAX_KEEP_TOP_K .* may not fit DETECTOR_MAX_MESSAGE_BYTES/);
  });

  it('lets calls on an aged connection run on for ten minutes by default, apart from the shutdown grace', () => {
    expect(loadDetectorConfig({}, { cpus: 2 })).toMatchObject({ maxConnectionAgeMs: 30_000, maxConnectionAgeGraceMs: 600_000, shutdownGraceMs: 10_000 });
  });

  it('takes the fast image path only when asked', () => {
    expect(loadDetectorConfig({ DETECTOR_IMAGE_PATH: 'fast' }, { cpus: 2 }).imagePath).toBe('fast');
    expect(() => loadDetectorConfig({ DETECTOR_IMAGE_PATH: 'quick' }, { cpus: 2 })).toThrow('DETECTOR_IMAGE_PATH must be one of');
  });

  it('fails at start on a bad value, naming the variable', () => {
    expect(() => loadDetectorConfig({ DETECTOR_PORT: 'http' }, { cpus: 2 })).toThrow('DETECTOR_PORT must be an integer');
    expect(() => loadDetectorConfig({ DETECTOR_POOL_SIZE: '0' }, { cpus: 2 })).toThrow('DETECTOR_POOL_SIZE must be >= 1');
    expect(() => loadDetectorConfig({ LOG_LEVEL: 'chatty' }, { cpus: 2 })).toThrow('LOG_LEVEL must be one of');
  });
});
