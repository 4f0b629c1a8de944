import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';

/** Folders of the project that core code (shared/, except its adapters) must not import. */
export const FORBIDDEN_FOR_CORE = ['shared/aws', 'shared/local', 'functions', 'cli', 'cdk'] as const;

/** Folders that the ports module (shared/ports.ts) must not import besides those: the ports depend on no pipeline code. */
export const FORBIDDEN_FOR_PORTS = [...FORBIDDEN_FOR_CORE, 'shared/pipeline'] as const;

/** The adapters inside shared/: they may import anything core may not. */
const ADAPTERS = ['shared/aws', 'shared/local'];

/** One import that breaks the rule. */
export interface ImportViolation {
  /** The importing file, relative to the project root. */
  readonly file: string;
  /** The specifier as written. */
  readonly specifier: string;
  /** The forbidden folder it reaches. */
  readonly forbidden: string;
}

/** Static imports and re-exports (`import … from '…'`, `import '…'`, `export … from '…'`) and dynamic `import('…')`. */
const IMPORT =
  /(?:^|[\s;])(?:import|export)\s[^'"`;]*?from\s*['"]([^'"]+)['"]|(?:^|[\s;])import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

/** The relative specifiers a module's source imports. */
export function importSpecifiers(source: string): string[] {
  const specifiers: string[] = [];
  for (const match of source.matchAll(IMPORT)) {
    const specifier = match[1] ?? match[2] ?? match[3];
    if (specifier !== undefined) specifiers.push(specifier);
  }
  return specifiers;
}

async function* sourceFiles(dir: string): AsyncIterable<string> {
  const entries = await readdir(dir, { withFileTypes: true });
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* sourceFiles(path);
    else if (/\.(?:ts|mts|js|mjs)$/.test(entry.name)) yield path;
  }
}

function within(path: string, folder: string): boolean {
  return path === folder || path.startsWith(`${folder}/`);
}

/**
 * Every import in core code (`shared/` under `root`, except shared/aws and shared/local) that reaches one of
 * {@link FORBIDDEN_FOR_CORE}: the pipeline depends on ports only, and the adapters, functions, CLI and CDK app on it.
 * The ports module (shared/ports.ts) may not reach {@link FORBIDDEN_FOR_PORTS} either.
 */
export async function coreImportViolations(root: string): Promise<ImportViolation[]> {
  const violations: ImportViolation[] = [];
  for await (const file of sourceFiles(join(root, 'shared'))) {
    const from = relative(root, file).split(sep).join('/');
    if (ADAPTERS.some((adapter) => within(from, adapter))) continue;
    const folders: readonly string[] = from === 'shared/ports.ts' ? FORBIDDEN_FOR_PORTS : FORBIDDEN_FOR_CORE;
    for (const specifier of importSpecifiers(await readFile(file, 'utf8'))) {
      if (!specifier.startsWith('.')) continue;
      const target = relative(root, resolve(dirname(file), specifier))
        .split(sep)
        .join('/');
      const forbidden = folders.find((folder) => within(target, folder));
      if (forbidden) violations.push({ file: from, specifier, forbidden });
    }
  }
  return violations;
}
