// The optional dependency bullmq, loaded when a queue is used (so the library loads without
// it), and a Redis URL turned into the connection options BullMQ passes to ioredis.
import { MissingDependencyError, typeError } from '../errors';

export type BullMQ = typeof import('bullmq');

export function loadBullmq(what: string): BullMQ {
  try {
    return require('bullmq') as BullMQ;
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException)?.code === 'MODULE_NOT_FOUND';
    throw new MissingDependencyError(
      'bullmq',
      `${what} needs the optional dependency bullmq, and it ${missing ? 'is not installed' : `failed to load: ${(e as Error)?.message}`}. Install it with: npm install bullmq`,
      { cause: e },
    );
  }
}

export interface RedisConnection {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db?: number;
  tls?: Record<string, never>;
  /** BullMQ's workers block on Redis: ioredis must not give up on a command (BullMQ's requirement). */
  maxRetriesPerRequest: null;
}

/** redis://[user:password@]host[:port][/db] or rediss:// (TLS). */
export function redisConnection(url: string): RedisConnection {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw typeError('redis', 'a URL redis://host:port[/db] or rediss://…', url);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw typeError('redis', 'a URL redis://host:port[/db] or rediss://…', url);
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : undefined;
  if (db !== undefined && !(Number.isInteger(db) && db >= 0)) throw typeError('redis', 'a database number after the port (redis://host:port/0)', url);
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(db !== undefined ? { db } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
    maxRetriesPerRequest: null,
  };
}

/** The queue's default name; submitters and workers must agree on it (--queue). */
export const DEFAULT_QUEUE = 'condiff';
