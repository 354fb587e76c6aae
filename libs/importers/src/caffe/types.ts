// Plain-object view of the caffe.proto messages the importer reads from a prototxt (field names as
// in caffe.proto). Absent fields are undefined; defaults are applied where the fields are used.
// Enum fields hold the value name ('TEST', 'MAX', 'CENTER_SIZE', ...).

export interface BlobShapeMsg {
  dim?: number[];
}

export interface NetStateMsg {
  phase?: string;
  level?: number;
  stage?: string[];
}

export interface NetStateRuleMsg {
  phase?: string;
  min_level?: number;
  max_level?: number;
  stage?: string[];
  not_stage?: string[];
}

interface BatchNormParameterMsg {
  use_global_stats?: boolean;
  moving_average_fraction?: number;
  eps?: number;
}

interface ConcatParameterMsg {
  axis?: number;
  concat_dim?: number;
}

interface ConvolutionParameterMsg {
  num_output?: number;
  bias_term?: boolean;
  pad?: number[];
  kernel_size?: number[];
  stride?: number[];
  dilation?: number[];
  pad_h?: number;
  pad_w?: number;
  kernel_h?: number;
  kernel_w?: number;
  stride_h?: number;
  stride_w?: number;
  group?: number;
  engine?: string;
  axis?: number;
  force_nd_im2col?: boolean;
}

interface DropoutParameterMsg {
  dropout_ratio?: number;
  scale_train?: boolean;
}

interface EltwiseParameterMsg {
  operation?: string;
  coeff?: number[];
  stable_prod_grad?: boolean;
}

interface FlattenParameterMsg {
  axis?: number;
  end_axis?: number;
}

interface InnerProductParameterMsg {
  num_output?: number;
  bias_term?: boolean;
  axis?: number;
  transpose?: boolean;
}

interface InputParameterMsg {
  shape?: BlobShapeMsg[];
}

interface LRNParameterMsg {
  local_size?: number;
  alpha?: number;
  beta?: number;
  norm_region?: string;
  k?: number;
  engine?: string;
}

interface PoolingParameterMsg {
  pool?: string;
  pad?: number;
  pad_h?: number;
  pad_w?: number;
  kernel_size?: number;
  kernel_h?: number;
  kernel_w?: number;
  stride?: number;
  stride_h?: number;
  stride_w?: number;
  engine?: string;
  global_pooling?: boolean;
  round_mode?: string;
  ceil_mode?: boolean;
}

interface ReLUParameterMsg {
  negative_slope?: number;
  engine?: string;
}

interface ReshapeParameterMsg {
  shape?: BlobShapeMsg;
  axis?: number;
  num_axes?: number;
}

interface ScaleParameterMsg {
  axis?: number;
  num_axes?: number;
  bias_term?: boolean;
}

interface SoftmaxParameterMsg {
  engine?: string;
  axis?: number;
}

interface PermuteParameterMsg {
  order?: number[];
}

interface PriorBoxParameterMsg {
  min_size?: number[];
  max_size?: number[];
  aspect_ratio?: number[];
  flip?: boolean;
  clip?: boolean;
  variance?: number[];
  img_size?: number;
  img_h?: number;
  img_w?: number;
  step?: number;
  step_h?: number;
  step_w?: number;
  offset?: number;
}

interface NormalizeParameterMsg {
  across_spatial?: boolean;
  channel_shared?: boolean;
  eps?: number;
}

interface NonMaximumSuppressionParameterMsg {
  nms_threshold?: number;
  top_k?: number;
  eta?: number;
}

interface DetectionOutputParameterMsg {
  num_classes?: number;
  share_location?: boolean;
  background_label_id?: number;
  nms_param?: NonMaximumSuppressionParameterMsg;
  code_type?: string;
  keep_top_k?: number;
  variance_encoded_in_target?: boolean;
  confidence_threshold?: number;
}

/** Layer parameters shared by LayerParameter and (after normalisation) V1LayerParameter. */
export interface LayerParamsMsg {
  batch_norm_param?: BatchNormParameterMsg;
  concat_param?: ConcatParameterMsg;
  convolution_param?: ConvolutionParameterMsg;
  dropout_param?: DropoutParameterMsg;
  eltwise_param?: EltwiseParameterMsg;
  flatten_param?: FlattenParameterMsg;
  inner_product_param?: InnerProductParameterMsg;
  input_param?: InputParameterMsg;
  lrn_param?: LRNParameterMsg;
  pooling_param?: PoolingParameterMsg;
  relu_param?: ReLUParameterMsg;
  reshape_param?: ReshapeParameterMsg;
  scale_param?: ScaleParameterMsg;
  softmax_param?: SoftmaxParameterMsg;
  permute_param?: PermuteParameterMsg;
  prior_box_param?: PriorBoxParameterMsg;
  detection_output_param?: DetectionOutputParameterMsg;
  norm_param?: NormalizeParameterMsg;
}

interface LayerParameterMsg extends LayerParamsMsg {
  name?: string;
  type?: string;
  bottom?: string[];
  top?: string[];
  phase?: string;
  loss_weight?: number[];
  include?: NetStateRuleMsg[];
  exclude?: NetStateRuleMsg[];
}

interface V1LayerParameterMsg extends LayerParamsMsg {
  name?: string;
  /** V1LayerParameter.LayerType value name, e.g. 'CONVOLUTION'. */
  type?: string;
  bottom?: string[];
  top?: string[];
  include?: NetStateRuleMsg[];
  exclude?: NetStateRuleMsg[];
  layer?: { name?: string; type?: string };
}

export interface NetParameterMsg {
  name?: string;
  input?: string[];
  input_shape?: BlobShapeMsg[];
  input_dim?: number[];
  state?: NetStateMsg;
  layer?: LayerParameterMsg[];
  layers?: V1LayerParameterMsg[];
}
