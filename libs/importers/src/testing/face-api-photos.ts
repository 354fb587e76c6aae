import * as path from 'node:path';
import { defaultFaceApiManifestPath } from '../tfjs/face-api';

/** The face-api package's demo photos (sample1-6.jpg, with faces), beside its model/ folder: read in place, never copied. */
export function faceApiDemoDir(): string {
  return path.join(path.dirname(path.dirname(defaultFaceApiManifestPath())), 'demo');
}
