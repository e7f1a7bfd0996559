// ONNX networks as score models: OnnxScore (score.ts) runs the network, layout.ts decides
// how its inputs and output are read, metadata.ts reads the model's condiff.* metadata,
// runtime.ts loads onnxruntime-node.
export { OnnxScore } from './score';
export { readOnnxMetadata } from './metadata';
export { loadOnnxRuntime } from './runtime';
export type { OnnxRuntimeModule } from './runtime';
export type { OnnxScoreOptions, OnnxParameterization, OnnxTimeInput, OnnxValueInfo, ExecutionProvider } from './layout';
