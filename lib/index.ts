// condiff: conditional sampling from diffusion models with a native core. The digits
// inpainting demo is application code, exported separately as condiff/digits (digits.ts).
// "MATH.md §n" in these comments and types is section n of docs/MATH.md, which ships in the
// package (node_modules/condiff/docs/MATH.md).
export { schedules } from './schedules';
export type { Schedule, KernelName, OuOptions, VpOptions, DdpmOptions } from './schedules';
export { GaussianMixture } from './mixture';
export { ConditionalGaussianMixture } from './conditional-mixture';
export type { ConditionalGaussianMixtureSpec } from './conditional-mixture';
export { NULL_CLASS } from './guidance';
export type { GuidanceOptions, CfgGuidance, ClassifierGuidance, ClassifierGradient, CleanClassifierGradient } from './guidance';
export type { GaussianMixtureSpec, ExactPosterior } from './mixture';
export { fromPrediction } from './score';
export type { ScoreFunction, ScoreModel, ScoreContext, ScoreInput, Parameterization } from './score';
export type { Observation, MatrixObservation, OperatorObservation, ObservationInput, LinearOperator, OperatorSvd, PoolShape } from './observation';
export { observations } from './observation';
export { replacement, smc } from './samplers';
export { tds } from './tds';
export { dps } from './dps';
export type { DpsOptions, DpsResult, DpsJacobian } from './dps';
export { mcgdiff } from './mcgdiff';
export type { McgdiffOptions, McgdiffResult } from './mcgdiff';
export { fps } from './fps';
export type { FpsOptions, FpsResult } from './fps';
export type { TdsOptions, TdsResult, TwistGradient, ScoreVjp } from './tds';
export type {
  CommonOptions,
  ReplacementOptions,
  SmcOptions,
  SampleResult,
  SmcResult,
  SmcAllResult,
  CorrectorOptions,
  LangevinCorrectorOptions,
  RepaintCorrectorOptions,
  ContextKind,
} from './samplers';
export type { ResamplingScheme, StepInfo } from './driver';
export { resample, resampleAsync, gatherRows, gatherRowsAsync, gatherRowsInPlace, gatherRowsInPlaceAsync } from './blocks';
export type { InPlaceOptions } from './blocks';
export type { RandomCounter, BlockOptions } from './blocks';
export { backends } from './backend';
export type { BackendName, BackendsInfo } from './backend';
export { slicedWasserstein, noiseFloor } from './metrics';
export type { SlicedOptions, NoiseFloor } from './metrics';
export { OnnxScore, readOnnxMetadata } from './onnx';
export type { OnnxScoreOptions, OnnxParameterization, OnnxTimeInput, OnnxValueInfo, ExecutionProvider } from './onnx';
export { MissingDependencyError, FileError } from './errors';
export { encodeNpy, decodeNpy } from './npy';
export type { NpyData, NpyDtype, DecodedNpy } from './npy';
export { particleGibbs, pmmh } from './chains';
export type { ChainOptions, ParticleGibbsOptions, PmmhOptions, ChainResult, ParticleGibbsResult, PmmhResult } from './chains';
export { submit, startWorker, chunkRuns, QueueJobError, JOB_FORMAT, validateJob } from './queue';
export type { SubmitOptions, QueueResult, WorkerOptions, QueueWorker, QueueJob, NamedModel } from './queue';
