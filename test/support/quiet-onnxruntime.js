// onnxruntime writes its log to stderr in red, from level 'warning' up. In a passing run the
// only such lines come from tests that provoke an error on purpose (executionProvider 'cuda'
// where onnxruntime-node has no CUDA provider), and the error reaches the test as an
// exception anyway. So the files that run onnxruntime (those in onnx-environment.js) start
// it at level 'fatal'. A setup file, not the environment: it must set the level on the
// onnxruntime-node that the test file's own module registry loads, before the first session.
if (globalThis.__condiffRunsOnnxRuntime === true) {
  require('onnxruntime-node').env.logLevel = 'fatal';
}
