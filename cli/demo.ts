import { type DemoServer, startDemoServer } from '../demo/server.js';
import { generateSite } from '../demo/site.js';
import { type CliIo, EXIT, loadJob, reportOutcome, runLocally } from './common.js';

/** The port the demo job's start URL names (jobs/books.ts). */
const DEMO_PORT = 8321;

async function serve(port: number, books: number): Promise<DemoServer> {
  const site = generateSite({ books });
  try {
    return await startDemoServer({ site, port });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    return startDemoServer({ site, port: 0 });
  }
}

/**
 * Serves the sample bookstore on 127.0.0.1 and runs the books job against it with the local runtime. When the
 * job's port is taken the site is served on a free port and the run's start URL follows it.
 */
export async function runDemo(
  io: CliIo,
  options: { jobsDir: string; dataDir: string; port: number; books: number },
): Promise<number> {
  const job = await loadJob(options.jobsDir, 'books');
  const server = await serve(options.port, options.books);
  try {
    io.stdout.write(`Serving the sample bookstore (${options.books} books) at ${server.url}\n`);
    const moved = server.port !== DEMO_PORT;
    if (moved) io.stdout.write(`(port ${options.port} was not available: the run starts from ${server.url} instead)\n`);
    io.stdout.write(`Running job "books" through fetch → parse → post-process on the local runtime...\n\n`);
    const { outcome } = await runLocally(io, job, options.dataDir, {
      ...(moved ? { startUrls: [`${server.url}/catalogue/page-1.html`] } : {}),
      verbose: false,
      ssrf: { allow: ['127.0.0.1'] },
    });
    const code = reportOutcome(io, outcome, options.dataDir);
    if (outcome.kind === 'finished' && outcome.manifest.state === 'partial') {
      io.stdout.write(
        '  (the sample site has 7 broken links on purpose: 5 answer 404, 2 answer 500; they are counted as failed, with reasons)\n',
      );
    }
    return code === EXIT.partial ? EXIT.ok : code;
  } finally {
    await server.close();
  }
}
