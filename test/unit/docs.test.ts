// The documents name files of this repository (a module, a script, an
// example) and link to each other's sections. Files get moved and
// sections renamed; a reader who follows a dead name is lost. So every
// repository path in README.md, SECURITY.md and docs/**/*.md (in code
// spans, code blocks and links) must exist, every relative link must
// reach a file, and every #anchor a heading; and architecture.md, the
// map a newcomer reads first, names every file of src/ and ocf/. Reads
// files only: no root, no build, well under a second.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { PACKAGE_ROOT as REPO } from '../../src/paths.js';

/** The top-level folders whose paths documents name; a token starting with one of them is a path to check. */
const ROOTS = ['src', 'ocf', 'native', 'test', 'examples', 'docs', '.ci'];
/** A repository path inside code: one of ROOTS, not itself part of a longer path (`/opt/hasocks/examples/x` is not ours). */
const PATH_IN_CODE = new RegExp(`(?<![\\w./-])((?:${ROOTS.map((r) => r.replace('.', '\\.')).join('|')})/[\\w.\\-/]*)`, 'g');
/** [text](target "title"): the target, up to a space or the closing parenthesis. */
const LINK = /\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g;

/** README.md, SECURITY.md and every .md under docs/, repository-relative. */
function documents(): string[] {
  const found = ['README.md', 'SECURITY.md'];
  const walk = (dir: string): void => {
    if (!existsSync(join(REPO, dir))) return;
    for (const entry of readdirSync(join(REPO, dir), { withFileTypes: true })) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.md')) found.push(path);
    }
  };
  walk('docs');
  return found;
}

/** A name a document gives: a repository path to a file or folder, or a link, maybe with an anchor. */
interface Reference {
  readonly line: number;
  /** Repository-relative path ('' for an anchor in the same document). */
  readonly path: string;
  readonly anchor?: string | undefined;
  readonly kind: 'code' | 'link';
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors of a markdown text's headings, with GitHub's -1, -2 for repeats. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  let fence: string | undefined;
  for (const line of markdown.split('\n')) {
    const opening = /^\s*(```|~~~)/.exec(line);
    if (opening) {
      if (fence === undefined) fence = opening[1];
      else if (opening[1] === fence) fence = undefined;
      continue;
    }
    const heading = fence === undefined ? /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line) : null;
    if (!heading) continue;
    const base = slug(heading[1]!);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    result.add(count === 0 ? base : `${base}-${count}`);
  }
  return result;
}

/**
 * Every reference in `markdown`, a document at `docPath` (repository-relative).
 * Paths in code are repository-relative by this project's convention; link
 * targets are relative to the document, as a markdown viewer reads them.
 */
function references(markdown: string, docPath: string): Reference[] {
  const found: Reference[] = [];
  const fromCode = (code: string, line: number): void => {
    for (const match of code.matchAll(PATH_IN_CODE)) {
      const path = match[1]!.replace(/[.,;:]+$/, '').replace(/\/$/, '');
      found.push({ line, path, kind: 'code' });
    }
  };
  let fence: string | undefined;
  markdown.split('\n').forEach((text, index) => {
    const line = index + 1;
    const opening = /^\s*(```|~~~)/.exec(text);
    if (opening) {
      if (fence === undefined) fence = opening[1];
      else if (opening[1] === fence) fence = undefined;
      return;
    }
    if (fence !== undefined) {
      fromCode(text, line);
      return;
    }
    for (const span of text.matchAll(/`([^`]+)`/g)) fromCode(span[1]!, line);
    // Links are read from the prose only: a link written inside code is an example, not a link.
    const prose = text.replace(/`[^`]*`/g, (span) => ' '.repeat(span.length));
    for (const match of prose.matchAll(LINK)) {
      const target = match[1]!;
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
      const [file, anchor] = target.split('#', 2) as [string, string | undefined];
      const path = file === '' ? '' : relative(REPO, resolve(REPO, dirname(docPath), decodeURI(file))).split(sep).join('/');
      found.push({ line, path, anchor: anchor === undefined || anchor === '' ? undefined : anchor, kind: 'link' });
    }
  });
  return found;
}

/**
 * What `npm ci` builds (ignored by git): a document may name it, but a clone
 * whose addon did not build lacks it, and that is no fault of the document.
 */
const BUILT = ['native/build/'];

/** What is wrong with one reference of `docPath`, or undefined. */
function problem(docPath: string, ref: Reference): string | undefined {
  const where = `${docPath}:${ref.line}`;
  if (ref.path.startsWith('..')) return `${where}: ${ref.path} is outside the repository`;
  if (BUILT.some((prefix) => ref.path.startsWith(prefix))) return undefined;
  const target = ref.path === '' ? docPath : ref.path;
  const full = join(REPO, target);
  if (!existsSync(full)) return `${where}: ${ref.path} does not exist`;
  if (ref.anchor === undefined) return undefined;
  if (statSync(full).isDirectory() || !target.endsWith('.md')) return `${where}: #${ref.anchor} points into ${target}, which has no headings`;
  if (!anchors(readFileSync(full, 'utf8')).has(ref.anchor)) return `${where}: ${target} has no heading for #${ref.anchor}`;
  return undefined;
}

describe('the reference scanner', () => {
  const sample = [
    '# Title',
    'See `src/cli.ts` and `native/src/tcp_conn.c:42`, run `bash test/run.sh test/unit/config.test.ts`.',
    'Not ours: `/opt/hasocks/examples/pcs-group.sh`, [a site](https://example.com/src/x.ts).',
    'A [chapter](cluster.md#the-figures), a [section](#title), the [security](../SECURITY.md).',
    '```sh',
    'sh examples/pcs-promotable.sh  # [not a link](nowhere.md)',
    '```',
    '## Title',
  ].join('\n');
  const found = references(sample, 'docs/sample.md');

  test('finds paths in code spans and code blocks, repository-relative, without line numbers', () => {
    expect(found.filter((r) => r.kind === 'code').map((r) => r.path)).toEqual([
      'src/cli.ts',
      'native/src/tcp_conn.c',
      'test/run.sh',
      'test/unit/config.test.ts',
      'examples/pcs-promotable.sh',
    ]);
  });

  test('finds links relative to the document, with their anchors, and skips URLs and links inside code', () => {
    expect(found.filter((r) => r.kind === 'link').map((r) => [r.path, r.anchor])).toEqual([
      ['docs/cluster.md', 'the-figures'],
      ['', 'title'],
      ['SECURITY.md', undefined],
    ]);
  });

  test('anchors follow GitHub: punctuation and code marks dropped, repeats numbered', () => {
    expect(slug('A cluster lab to drill on: `npm run lab`')).toBe('a-cluster-lab-to-drill-on-npm-run-lab');
    expect(slug('The resource agent: `ocf:hasocks:socks`')).toBe('the-resource-agent-ocfhasockssocks');
    expect([...anchors(sample)]).toEqual(['title', 'title-1']);
  });

  test('a missing file and a missing heading are problems; present ones are not', () => {
    expect(problem('README.md', { line: 1, path: 'src/no-such-file.ts', kind: 'code' })).toMatch(/does not exist/);
    expect(problem('README.md', { line: 1, path: 'SECURITY.md', anchor: 'no-such-heading', kind: 'link' })).toMatch(/no heading/);
    expect(problem('README.md', { line: 1, path: 'SECURITY.md', anchor: 'reporting-a-problem', kind: 'link' })).toBeUndefined();
    expect(problem('README.md', { line: 1, path: 'native/build/Release/hasocks_native.node', kind: 'code' })).toBeUndefined();
    expect(problem('README.md', { line: 1, path: 'native/buildx.mjs', kind: 'code' })).toMatch(/does not exist/);
  });
});

describe('the documents', () => {
  const docs = documents();
  const all = docs.map((doc) => ({ doc, refs: references(readFileSync(join(REPO, doc), 'utf8'), doc) }));

  test('are the README, SECURITY.md and the chapters, and name many files', () => {
    expect(docs).toEqual(expect.arrayContaining(['README.md', 'SECURITY.md', 'docs/configuration.md', 'docs/cluster.md', 'docs/operations.md', 'docs/architecture.md', 'docs/performance.md']));
    // A scanner that found nothing would pass everything.
    expect(all.reduce((sum, { refs }) => sum + refs.length, 0)).toBeGreaterThan(200);
  });

  test('every file or folder a document names exists, and every link and anchor resolves', () => {
    const problems = all.flatMap(({ doc, refs }) => refs.map((ref) => problem(doc, ref)).filter((p): p is string => p !== undefined));
    expect(problems).toEqual([]);
  });

  test('the module map of architecture.md names every file of src/ and ocf/', () => {
    const map = all.find((d) => d.doc === 'docs/architecture.md')!.refs.map((r) => r.path);
    const files = (dir: string): string[] =>
      readdirSync(join(REPO, dir), { withFileTypes: true }).flatMap((entry) => (entry.isDirectory() ? files(`${dir}/${entry.name}`) : [`${dir}/${entry.name}`]));
    const sources = [...files('src'), ...files('ocf')];
    // A map that named nothing would pass nothing; one that a new file left out misleads whoever reads it to find their way.
    expect(sources.length).toBeGreaterThan(50);
    expect(sources.filter((file) => !map.includes(file))).toEqual([]);
  });

  test('the README links every chapter', () => {
    const linked = new Set(all.find((d) => d.doc === 'README.md')!.refs.filter((r) => r.kind === 'link').map((r) => r.path));
    expect(docs.filter((doc) => doc.startsWith('docs/') && !linked.has(doc))).toEqual([]);
  });
});
