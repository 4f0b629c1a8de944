import { AsyncLocalStorage } from 'node:async_hooks';
import type { Context } from 'aws-lambda';

/**
 * No AWS request outlives the invocation that made it. The stage handlers stop starting work before their deadline
 * (shared/handlers.ts), but a request already sent can hang (a socket that never answers, a throttled or overloaded
 * service): past the function's timeout Lambda ends the invocation and the whole batch comes back, work done
 * included, each message one receive closer to its dead-letter queue. Cut at a margin before the timeout instead, a
 * request throws; its record fails alone (a partial batch response) and the handler returns in time.
 */

/** The abort signal of the invocation under way (one per concurrent invocation in a process: tests, the bench). */
const invocationSignal = new AsyncLocalStorage<AbortSignal>();

/** A client with a `send` of the SDK's shape: `send(command, options?)`. */
interface SendingClient {
  // biome-ignore lint/suspicious/noExplicitAny: the SDK clients' overloaded `send` is not expressible otherwise.
  send(...args: any[]): Promise<unknown>;
}

/**
 * Runs one invocation's work with its AWS requests bounded: those made through {@link boundedByInvocation} clients
 * are aborted once the invocation has `cutoffMs` left. Without a Lambda context (a direct call) nothing is bounded.
 */
export function withinInvocation<T>(lambdaContext: Context | undefined, cutoffMs: number, work: () => Promise<T>): Promise<T> {
  if (!lambdaContext?.getRemainingTimeInMillis) return work();
  const signal = AbortSignal.timeout(Math.max(0, lambdaContext.getRemainingTimeInMillis() - cutoffMs));
  return invocationSignal.run(signal, work);
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
        const signal = invocationSignal.getStore();
        // The SDK's callback form, or no invocation: as it is.
        if (signal === undefined || typeof options === 'function') return value.call(target, command, options);
        const given = (options as { abortSignal?: AbortSignal } | undefined)?.abortSignal;
        const abortSignal = given ? AbortSignal.any([given, signal]) : signal;
        return value.call(target, command, { ...(options as object | undefined), abortSignal });
      };
    },
  });
}
