// Scale-out on a BullMQ queue (README "Scale-out"): the job format, submit, the worker.
export { submit, chunkRuns, QueueJobError } from './submit';
export type { SubmitOptions, QueueResult } from './submit';
export { startWorker } from './worker';
export type { WorkerOptions, QueueWorker } from './worker';
export { JOB_FORMAT, validateJob } from './job';
export type { QueueJob, NamedModel } from './job';
