/**
 * Sets the variables of `env` in `process.env` (as the functions read their configuration at cold start) and returns
 * the function that puts back what was there before, unsetting what was not set.
 */
export function setEnvironment(env: Readonly<Record<string, string>>): () => void {
  const saved = new Map(Object.keys(env).map((name) => [name, process.env[name]]));
  Object.assign(process.env, env);
  return () => {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
}
