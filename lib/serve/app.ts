// The sampling service of `condiff serve`, on Fastify: POST /v1/sample (JSON or .npy, or
// progress as server-sent events), GET /v1/models, GET /healthz, GET /metrics (prom-client),
// GET /openapi.json (@fastify/swagger). Every route but /healthz needs the bearer token when
// one is set. A client that disconnects cancels its run; drain() refuses new requests (503)
// and resolves when the running ones have finished.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { encodeNpy } from '../npy';
import { isErrorNamed, MissingDependencyError } from '../errors';
import type { StepInfo } from '../driver';
import { SAMPLE_BODY_SCHEMA, SampleBody, ServedModel, BadRequest, runSample, toResponse, requestWork, SERVE_METHODS, batchable, checkFields, scheduleFor } from './request';
import { Batcher } from './batcher';
import type { SampleResult, SmcResult } from '../samplers';
import { ServeMetrics } from './metrics';
import { ServeQueueOptions, goesToQueue, runQueued } from './queued';

export interface ServeOptions {
  models: ServedModel[];
  /** Bearer token every route but /healthz needs; none when absent. */
  token?: string;
  /** Largest particles × samples × steps × dim of one request (default 1e10). */
  maxWork?: number;
  /** Largest request body in bytes (default 1 MiB). */
  bodyLimit?: number;
  /**
   * How long a request waits for others with the same batching key before their batch runs,
   * in ms (default 5); 0 runs every request alone.
   */
  batchWindowMs?: number;
  /** Requests past a work threshold run on a BullMQ queue's workers (lib/serve/queued.ts). */
  queue?: ServeQueueOptions;
}

export interface SampleService {
  app: FastifyInstance;
  metrics: ServeMetrics;
  /** Refuses new requests with 503 and resolves when the running ones have finished. */
  drain(): Promise<void>;
}

function load<T>(name: string, what: string): T {
  try {
    return require(name) as T;
  } catch (e) {
    throw new MissingDependencyError(
      name,
      `${what} needs the optional dependency ${name}, and it ${(e as NodeJS.ErrnoException)?.code === 'MODULE_NOT_FOUND' ? 'is not installed' : `failed to load: ${(e as Error)?.message}`}. Install it with: npm install fastify @fastify/swagger prom-client`,
      { cause: e },
    );
  }
}

const ERROR_SCHEMA = { type: 'object', properties: { statusCode: { type: 'integer' }, error: { type: 'string' }, message: { type: 'string' } } };

export async function createService(options: ServeOptions): Promise<SampleService> {
  const fastify = load<typeof import('fastify').default>('fastify', 'condiff serve');
  const swagger = load<typeof import('@fastify/swagger').default>('@fastify/swagger', 'condiff serve');
  const metrics = new ServeMetrics();
  const models = new Map(options.models.map((m) => [m.name, m]));
  const maxWork = options.maxWork ?? 1e10;
  const windowMs = options.batchWindowMs ?? 5;
  const batcher = new Batcher(windowMs, (size) => metrics.batchSize.observe(size));
  const app = fastify({
    bodyLimit: options.bodyLimit ?? 1 << 20,
    // Unknown fields are errors, not silently dropped; numbers are never coerced from strings.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false } },
  });
  await app.register(swagger, {
    openapi: {
      info: { title: 'condiff', description: 'Conditional sampling from diffusion models', version: '1' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });

  let draining = false;
  const running = new Set<Promise<unknown>>();
  let idle: (() => void) | undefined;
  let drained: Promise<void> | undefined;

  app.addHook('onRequest', async (request, reply) => {
    if (draining) return reply.code(503).send({ statusCode: 503, error: 'Service Unavailable', message: 'the server is shutting down' });
    if (options.token !== undefined && request.routeOptions.url !== '/healthz') {
      if (request.headers.authorization !== `Bearer ${options.token}`) {
        return reply.code(401).header('www-authenticate', 'Bearer').send({ statusCode: 401, error: 'Unauthorized', message: 'a bearer token is required (Authorization: Bearer <token>)' });
      }
    }
  });
  app.addHook('onResponse', async (request, reply) => {
    metrics.requests.inc({ route: request.routeOptions.url ?? 'unknown', status: String(reply.statusCode) });
  });
  app.setErrorHandler((error: Error & { statusCode?: number; validation?: unknown; code?: string }, _request, reply) => {
    if (error.validation) return reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: error.message });
    if (error.statusCode === 413 || error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply.code(413).send({ statusCode: 413, error: 'Payload Too Large', message: error.message });
    }
    if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
      return reply.code(error.statusCode).send({ statusCode: error.statusCode, error: 'Bad Request', message: error.message });
    }
    if (error instanceof BadRequest || isErrorNamed(error, 'TypeError', 'RangeError')) {
      return reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: error.message });
    }
    return reply.code(500).send({ statusCode: 500, error: 'Internal Server Error', message: (error as Error).message });
  });

  app.get('/healthz', { schema: { description: 'liveness; open without a token' } }, async () => ({ status: 'ok' }));

  app.get('/metrics', { schema: { description: 'Prometheus metrics', security: [{ bearer: [] }] } }, async (_request, reply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  app.get('/v1/models', { schema: { description: 'the models this server loaded', security: [{ bearer: [] }] } }, async () => ({
    models: [...models.values()].map((m) => ({ name: m.name, kind: m.kind, dim: m.dim, schedule: m.schedule ? 'ddpm' : null })),
  }));

  app.post<{ Body: SampleBody; Querystring: { stream?: '0' | '1' } }>(
    '/v1/sample',
    {
      schema: {
        description: `draws from p(x | observation) by one method (${SERVE_METHODS.join(', ')}); Accept: application/x-npy for the float32 .npy of the samples, ?stream=1 for progress as server-sent events`,
        body: SAMPLE_BODY_SCHEMA,
        querystring: { type: 'object', additionalProperties: false, properties: { stream: { type: 'string', enum: ['0', '1'] } } },
        security: [{ bearer: [] }],
        response: { 400: ERROR_SCHEMA, 401: ERROR_SCHEMA, 413: ERROR_SCHEMA, 422: ERROR_SCHEMA, 503: ERROR_SCHEMA },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const model = models.get(body.model);
      if (!model) throw new BadRequest(`model must be one of ${[...models.keys()].map((n) => JSON.stringify(n)).join(', ')}, got ${JSON.stringify(body.model)}`);
      const work = requestWork(body, model.dim);
      if (work > maxWork) {
        return reply.code(422).send({
          statusCode: 422,
          error: 'Unprocessable Entity',
          message: `the request's work particles x samples x steps x dim = ${work} is more than this server's --max-work ${maxWork}`,
        });
      }
      // A client that goes away cancels its run.
      const controller = new AbortController();
      reply.raw.on('close', () => {
        if (!reply.raw.writableFinished) controller.abort(new Error('the client disconnected'));
      });
      // Gone before the handler ran (while its body was read): 'close' has fired already.
      if (request.raw.destroyed || reply.raw.destroyed) controller.abort(new Error('the client disconnected'));
      const stream = request.query.stream === '1';
      const job = (async () => {
        metrics.inFlight.inc();
        const started = performance.now();
        try {
          if (stream) {
            // A mistake in the request is a 400 before the stream starts, not an event after a 200.
            checkFields(body);
            scheduleFor(body, model);
            return await streamRun(body, model, controller.signal, reply);
          }
          const r = await sample(body, model, controller.signal, undefined, (chunks) => reply.header('x-condiff-queue-chunks', String(chunks)));
          metrics.particleSteps.inc(requestWork(body, 1));
          if (acceptsNpy(request)) {
            return reply.header('content-type', 'application/x-npy').send(Buffer.from(encodeNpy(r.samples, [...r.shape]).buffer));
          }
          return toResponse(body, r);
        } finally {
          metrics.inFlight.dec();
          metrics.runSeconds.observe((performance.now() - started) / 1000);
        }
      })();
      running.add(job);
      try {
        return await job;
      } catch (e) {
        if (controller.signal.aborted && isErrorNamed(e, 'AbortError')) {
          // Nobody is listening any more; the socket is gone.
          return reply;
        }
        throw e;
      } finally {
        running.delete(job);
        if (running.size === 0) idle?.();
      }
    },
  );

  /**
   * Runs a request on the queue's workers when it is past --queue-work (no step progress then:
   * `onQueued` is told the chunks), else in its batch, or alone when it cannot join one (tds, a
   * noisy observation) or batching is off.
   */
  async function sample(
    body: SampleBody, model: ServedModel, signal: AbortSignal, onStep?: (info: StepInfo) => void, onQueued?: (chunks: number) => void,
  ): Promise<SampleResult | SmcResult> {
    if (goesToQueue(body, requestWork(body, model.dim), options.queue)) {
      checkFields(body);
      scheduleFor(body, model);
      const q = await runQueued(body, model, options.queue!, signal);
      onQueued?.(q.chunks);
      metrics.batchSize.observe(1);
      return q.result;
    }
    const b = windowMs > 0 ? (checkFields(body), batchable(body, model)) : null;
    if (!b) {
      const r = await runSample(body, model, signal, onStep);
      metrics.batchSize.observe(1);
      return r;
    }
    return batcher.submit(b.key, b.shared, { seed: body.seed ?? 0, samples: body.samples ?? 1, values: body.observe.values }, signal, onStep);
  }

  /** The run with its progress as server-sent events: `progress` per step (at most 20 a second), then `result` or `error`. */
  async function streamRun(body: SampleBody, model: ServedModel, signal: AbortSignal, reply: FastifyReply): Promise<FastifyReply> {
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const event = (name: string, data: unknown) => raw.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
    let last = 0;
    const onStep = (info: StepInfo) => {
      const now = performance.now();
      if (info.step !== info.steps && now - last < 50) return;
      last = now;
      event('progress', { step: info.step, steps: info.steps, t: info.t });
    };
    try {
      const r = await sample(body, model, signal, onStep, (chunks) => event('queued', { chunks }));
      metrics.particleSteps.inc(requestWork(body, 1));
      event('result', toResponse(body, r));
    } catch (e) {
      // The reply is hijacked: an error is an event (or nothing, for a client that has gone), never rethrown.
      if (!signal.aborted) {
        const status = e instanceof BadRequest || isErrorNamed(e, 'TypeError', 'RangeError') ? 400 : 500;
        event('error', { statusCode: status, message: (e as Error).message });
      }
    }
    raw.end();
    return reply;
  }

  return {
    app,
    metrics,
    drain: () => {
      draining = true;
      drained ??= running.size > 0 ? new Promise<void>((resolve) => (idle = resolve)) : Promise.resolve();
      return drained;
    },
  };
}

function acceptsNpy(request: FastifyRequest): boolean {
  return (request.headers.accept ?? '').split(',').some((a) => a.trim().split(';')[0] === 'application/x-npy');
}
