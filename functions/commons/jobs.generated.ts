// Generated from jobs/ by the CDK app (shared/job/bundle.ts): do not edit.
import type { BundledJob } from '../../shared/job/bundle.js';
import job0 from '../../jobs/books.js';

export const bundledJobs: readonly BundledJob[] = [
  { source: "jobs/books.ts", input: job0 },
];
