import type { StateStore } from '../../shared/ports.js';

/**
 * `state` whose requests settle `latencyMs` late (their results unchanged; streams are not delayed): a state table
 * under load, as the scale check's overloaded peer. `onRequest` is told of every request as it starts, streams
 * (`query`) included, with its arguments.
 */
export function slowState(
  state: StateStore,
  latencyMs: number,
  onRequest: (method: string, args: readonly unknown[]) => void = () => {},
): StateStore {
  return new Proxy(state, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const result: unknown = value.apply(target, args);
        const stream = typeof result === 'object' && result !== null && Symbol.asyncIterator in result;
        if (!(result instanceof Promise) && !stream) return result;
        onRequest(String(property), args);
        if (!(result instanceof Promise)) return result;
        return result.then((settled) => new Promise((resolve) => setTimeout(() => resolve(settled), latencyMs)));
      };
    },
  });
}
