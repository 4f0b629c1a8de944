import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, type AppProps, type CfnElement, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { PROJECT_ROOT } from '../../cdk/paths.js';
import { ScrapelineStack, type ScrapelineStackProps } from '../../cdk/stack.js';
import { loadJobs } from '../../shared/job/load.js';
import type { Job } from '../../shared/job/schema.js';

/** The context of `cdk.json` (feature flags), so tests synthesize what `cdk synth` does. */
export const CDK_CONTEXT: Record<string, unknown> = JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8')).context;

/** Context that skips bundling: assertion tests need the template, not the code. */
export const SKIP_BUNDLING = { 'aws:cdk:bundling-stacks': [] };

/** Temporary folders, removed by {@link cleanUp}. */
const temporary: string[] = [];

export function tempDir(prefix = 'scrapeline-cdk-', parent = tmpdir()): string {
  mkdirSync(parent, { recursive: true });
  const dir = mkdtempSync(join(parent, prefix));
  temporary.push(dir);
  return dir;
}

export function cleanUp(): void {
  for (const dir of temporary.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** Two valid jobs: `alpha` runs every 6 hours, `beta` has no schedule. */
export const TWO_JOBS: Readonly<Record<string, string>> = {
  'alpha.yaml': [
    'name: alpha',
    'schedule: rate(6 hours)',
    'start:',
    '  urls: [https://alpha.example/]',
    'follow:',
    '  - selector: a.item',
    '    template: item',
    'templates:',
    '  item:',
    '    key: id',
    '    fields:',
    '      id: h1',
    '',
  ].join('\n'),
  'beta.json': JSON.stringify({ name: 'beta', start: { urls: ['https://beta.example/'] } }),
};

/** Writes job files into a new temporary folder. */
export function jobsDir(files: Readonly<Record<string, string>> = TWO_JOBS): string {
  const dir = tempDir('scrapeline-jobs-');
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

/** The two jobs of {@link TWO_JOBS}, loaded and validated. */
export function twoJobs(): Promise<Job[]> {
  return loadJobs(jobsDir(), tmpdir());
}

/** Options of {@link testApp}. */
export interface TestAppOptions {
  /** Bundle the functions. @default false */
  readonly bundle?: boolean;
  /**
   * Run CDK's built-in CloudFormation template validation (its WebAssembly engine takes seconds to start; the
   * validation test runs it, assertion tests skip it). @default false
   */
  readonly validate?: boolean;
  /** Folder the app's output folder is made in. @default the system's temporary folder */
  readonly outdirParent?: string;
}

/** A new app writing to a temporary folder, with the flags of `cdk.json`. */
export function testAppProps(options: TestAppOptions = {}): AppProps {
  return {
    outdir: tempDir('scrapeline-cdk-out-', options.outdirParent),
    context: { ...CDK_CONTEXT, ...(options.bundle ? {} : SKIP_BUNDLING) },
    builtinCloudFormationValidation: options.validate ?? false,
  };
}

/** A new app writing to a temporary folder, with the flags of `cdk.json`. */
export function testApp(options: TestAppOptions = {}): App {
  return new App(testAppProps(options));
}

/** Builds the stack (bundling skipped) and its template. */
export function synthStack(props: ScrapelineStackProps): { stack: ScrapelineStack; template: Template } {
  const stack = new ScrapelineStack(testApp(), 'Test', props);
  return { stack, template: Template.fromStack(stack) };
}

/** The logical ID of a construct's CloudFormation resource (its default child for an L2). */
export function logicalId(construct: IConstruct): string {
  const element = (construct.node.defaultChild ?? construct) as CfnElement;
  return Stack.of(construct).getLogicalId(element);
}

/** One IAM statement with its actions and resources as lists (resources as JSON, to match logical IDs in). */
export interface Statement {
  readonly effect: string;
  readonly actions: string[];
  readonly resources: string[];
}

/** Every statement of the policies attached to a role. */
export function statementsOfRole(template: Template, roleId: string): Statement[] {
  const policies = template.findResources('AWS::IAM::Policy');
  const statements: Statement[] = [];
  for (const policy of Object.values(policies)) {
    const roles = JSON.stringify(policy.Properties.Roles);
    if (!roles.includes(`"${roleId}"`)) continue;
    for (const raw of policy.Properties.PolicyDocument.Statement as Record<string, unknown>[]) {
      const list = (value: unknown) => (Array.isArray(value) ? value : [value]);
      statements.push({
        effect: String(raw.Effect),
        actions: list(raw.Action).map(String),
        resources: list(raw.Resource).map((resource) => JSON.stringify(resource)),
      });
    }
  }
  return statements;
}

/** Resources (as JSON) on which the statements allow `action`. */
export function resourcesFor(statements: readonly Statement[], action: string): string[] {
  return statements.filter((s) => s.effect === 'Allow' && s.actions.includes(action)).flatMap((s) => s.resources);
}

/** `value`, which the test expects to exist. */
export function defined<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`expected ${what}`);
  return value;
}
