import { AsyncLocalStorage } from 'node:async_hooks';
import type { Context } from 'aws-lambda';

/**
 * No AWS request outlives the invocation that made it. The stage handlers stop starting work before their deadline
 * (shared/handlers.ts), but a request already sent can hang (a socket that never answers, a throttled or overloaded
 * service): past the function's timeout Lambda ends the invocation and the whole batch comes back, work done
 * included, each message one receive closer to its dead-letter queue. Cut at a margin before the timeout instead, a
 * request throws; its record fails alone (a partial batch response) and the handler returns in time.
 *
 * Two moments: at the cut, the requests under way are aborted; requests started after it (what a failure calls for:
 * giving back reservations, handing work back, recording the invocation's counts) may run until the end margin.
 */

/** Time kept after the last request an invocation may make, for the handler to return. */
const END_MARGIN_MS = 1000;

/** When the invocation under way cuts its requests (one per concurrent invocation in a process: tests, the bench). */
interface InvocationBounds {
  /** Epoch ms at which the requests under way are aborted. */
  readonly cutAt: number;
  /** Epoch ms by which a request started after the cut must end. */
  readonly endAt: number;
}

const invocationBounds = new AsyncLocalStorage<InvocationBounds>();

/** A client with a `send` of the SDK's shape: `send(command, options?)`. */
interface SendingClient {
  // biome-ignore lint/suspicious/noExplicitAny: the SDK clients' overloaded `send` is not expressible otherwise.
  send(...args: any[]): Promise<unknown>;
}

/**
 * Runs one invocation's work with its AWS requests bounded: those made through {@link boundedByInvocation} clients
 * and under way when the invocation has `cutoffMs` left are aborted; those started later are aborted 1 s before the
 * function's timeout. Without a Lambda context (a direct call) nothing is bounded.
 */
export function withinInvocation<T>(lambdaContext: Context | undefined, cutoffMs: number, work: () => Promise<T>): Promise<T> {
  if (!lambdaContext?.getRemainingTimeInMillis) return work();
  const end = Date.now() + lambdaContext.getRemainingTimeInMillis();
  const bounds = { cutAt: end - Math.max(cutoffMs, END_MARGIN_MS), endAt: end - END_MARGIN_MS };
  return invocationBounds.run(bounds, work);
}

/** The signal that aborts a request starting now, or undefined outside an invocation. */
function requestSignal(): AbortSignal | undefined {
  const bounds = invocationBounds.getStore();
  if (bounds === undefined) return undefined;
  const now = Date.now();
  return AbortSignal.timeout(Math.max(0, (now < bounds.cutAt ? bounds.cutAt : bounds.endAt) - now));
}

/**
 * `client` with each request given the abort signal of the invocation it is made in ({@link withinInvocation});
 * a request made outside one is sent as it is. The client itself is not changed.
 */
export function boundedByInvocation<C extends SendingClient>(client: C): C {
  return new Proxy(client, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (property !== 'send' || typeof value !== 'function') return value;
      return (command: unknown, options?: unknown) => {
        const signal = requestSignal();
        // The SDK's callback form, or no invocation: as it is.
        if (signal === undefined || typeof options === 'function') return value.call(target, command, options);
        const given = (options as { abortSignal?: AbortSignal } | undefined)?.abortSignal;
        const abortSignal = given ? AbortSignal.any([given, signal]) : signal;
        return value.call(target, command, { ...(options as object | undefined), abortSignal });
      };
    },
  });
}
