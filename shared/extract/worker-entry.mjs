// Entry of a parse worker: the pipeline is TypeScript run through tsx, and a worker thread needs the loader too.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
