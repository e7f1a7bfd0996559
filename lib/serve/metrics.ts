// The service's Prometheus metrics (prom-client), in a registry of its own: two services in
// one process never share counters.
import type * as PromClient from 'prom-client';
import { MissingDependencyError } from '../errors';

function promClient(): typeof PromClient {
  try {
    return require('prom-client') as typeof PromClient;
  } catch (e) {
    throw new MissingDependencyError('prom-client', 'condiff serve needs the optional dependency prom-client. Install it with: npm install fastify @fastify/swagger prom-client', { cause: e });
  }
}

export class ServeMetrics {
  readonly registry: PromClient.Registry;
  /** Requests answered, by route and status code. */
  readonly requests: PromClient.Counter<'route' | 'status'>;
  /** Wall-clock seconds of each sampling run. */
  readonly runSeconds: PromClient.Histogram;
  /** particles × samples × steps of the runs that finished. */
  readonly particleSteps: PromClient.Counter;
  /** Runs in progress. */
  readonly inFlight: PromClient.Gauge;
  /** Requests per driver call (1 until requests are batched). */
  readonly batchSize: PromClient.Histogram;

  constructor() {
    const p = promClient();
    this.registry = new p.Registry();
    const registers = [this.registry];
    this.requests = new p.Counter({ name: 'condiff_requests_total', help: 'Requests answered, by route and status code', labelNames: ['route', 'status'], registers });
    this.runSeconds = new p.Histogram({ name: 'condiff_run_seconds', help: 'Seconds per sampling run', buckets: [0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120], registers });
    this.particleSteps = new p.Counter({ name: 'condiff_particle_steps_total', help: 'particles x samples x steps of finished runs', registers });
    this.inFlight = new p.Gauge({ name: 'condiff_queue_depth', help: 'Sampling runs in progress', registers });
    this.batchSize = new p.Histogram({ name: 'condiff_batch_size', help: 'Requests per driver call', buckets: [1, 2, 4, 8, 16, 32, 64], registers });
  }
}
