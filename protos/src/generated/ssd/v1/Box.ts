// Original file: protos/ssd/v1/ssd.proto


export interface Box {
  'xmin'?: (number | string);
  'ymin'?: (number | string);
  'xmax'?: (number | string);
  'ymax'?: (number | string);
}

export interface Box__Output {
  'xmin': (number);
  'ymin': (number);
  'xmax': (number);
  'ymax': (number);
}
