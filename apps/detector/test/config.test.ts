import * as path from 'node:path';
import { loadDetectorConfig } from '../src/config';

describe('detector configuration', () => {
  it('defaults to the built-in face model and one single-threaded worker per granted CPU', () => {
    const config = loadDetectorConfig({}, 6);
    expect(config).toMatchObject({ port: 50052, host: '0.0.0.0', builtinModel: 'faceapi-ssd-mobilenetv1', poolSize: 6, intraOpThreads: 1, maxBatch: 8 });
    expect(config.modelPath).toBe(path.resolve('models/faceapi-ssd-mobilenetv1.onnx'));
  });

  it('finds another built-in model by name in ./models, and refuses a name that is a path', () => {
    const config = loadDetectorConfig({ MODEL_NAME: 'mobilenet-ssd-voc-300' }, 2);
    expect(config).toMatchObject({ builtinModel: 'mobilenet-ssd-voc-300', modelPath: path.resolve('models/mobilenet-ssd-voc-300.onnx') });
    expect(() => loadDetectorConfig({ MODEL_NAME: '../etc/passwd' }, 2)).toThrow("MODEL_NAME must be a model name such as faceapi-ssd-mobilenetv1, got '../etc/passwd'");
  });

  it('keeps workers x threads within the CPUs when only threads are set', () => {
    expect(loadDetectorConfig({ DETECTOR_INTRA_OP_THREADS: '2' }, 6).poolSize).toBe(3);
    expect(loadDetectorConfig({ DETECTOR_INTRA_OP_THREADS: '4' }, 2).poolSize).toBe(1);
  });

  it('serves an explicit MODEL_PATH without generating anything', () => {
    const config = loadDetectorConfig({ MODEL_PATH: '/models/face.onnx', DETECTOR_POOL_SIZE: '3' }, 2);
    expect(config).toMatchObject({ modelPath: '/models/face.onnx', builtinModel: undefined, poolSize: 3 });
  });

  it('fails at start on a bad value, naming the variable', () => {
    expect(() => loadDetectorConfig({ DETECTOR_PORT: 'http' }, 2)).toThrow('DETECTOR_PORT must be an integer');
    expect(() => loadDetectorConfig({ DETECTOR_POOL_SIZE: '0' }, 2)).toThrow('DETECTOR_POOL_SIZE must be >= 1');
    expect(() => loadDetectorConfig({ LOG_LEVEL: 'chatty' }, 2)).toThrow('LOG_LEVEL must be one of');
  });
});
