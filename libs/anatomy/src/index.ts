// @edge-ssd/anatomy: what sets SSD variants apart, read from a model's graph and its SSD spec:
// per head the source layer, feature map, channels, kernel, priors and PriorBox parameters, the
// smallest object a k x k window covers, and the cost of the base network, extra layers and heads
// at the model's input size and another. Used by `model anatomy`, the bench and the README.
export { type ModelAnatomy, modelAnatomy } from './anatomy';
export { AnatomyError } from './shapes';
export { anatomyJson, comparisonMarkdown, formatAnatomy } from './report';
