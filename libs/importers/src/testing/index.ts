// @edge-ssd/importers/testing: writers for test fixtures (never used by the product).
export {
  type CaffeLayerData,
  type WriteCaffemodelOptions,
  writeCaffemodel,
} from './caffe-writer';
export * from './caffe-nets';
export * from './vgg16-ssd';
export { faceApiDemoDir } from './face-api-photos';
