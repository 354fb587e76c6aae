// Original file: protos/ssd/v1/ssd.proto


/**
 * 0 or empty means the model's own default (MobileNet-SSD: 0.25, 0.45, 100, 100, all classes).
 */
export interface DetectOptions {
  /**
   * Keep detections whose score is strictly above this.
   */
  'scoreThreshold'?: (number | string);
  /**
   * Per-class NMS suppresses a box whose IoU with a kept box is strictly above this.
   */
  'iouThreshold'?: (number | string);
  /**
   * Per-class candidates considered by NMS.
   */
  'topK'?: (number);
  /**
   * Detections kept per image across classes.
   */
  'keepTopK'?: (number);
  /**
   * Only these class ids.
   */
  'classIds'?: (number)[];
}

/**
 * 0 or empty means the model's own default (MobileNet-SSD: 0.25, 0.45, 100, 100, all classes).
 */
export interface DetectOptions__Output {
  /**
   * Keep detections whose score is strictly above this.
   */
  'scoreThreshold': (number);
  /**
   * Per-class NMS suppresses a box whose IoU with a kept box is strictly above this.
   */
  'iouThreshold': (number);
  /**
   * Per-class candidates considered by NMS.
   */
  'topK': (number);
  /**
   * Detections kept per image across classes.
   */
  'keepTopK': (number);
  /**
   * Only these class ids.
   */
  'classIds': (number)[];
}
