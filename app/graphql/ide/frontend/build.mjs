// Bundles GraphiQL into ../static (served at /graphql/ide/static).
//
// Outputs:
//   graphiql.js, graphiql.css      the IDE (React + GraphiQL + Monaco), minified
//   workers/{editor,json,graphql}.worker.js   Monaco web workers (classic scripts)
//   fonts/<sha256>.<ext>           fonts that GraphiQL's stylesheet ships as data:
//                                  URLs, moved to files so that the page needs no
//                                  `font-src data:` in its Content-Security-Policy
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import * as esbuild from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
const outdir = path.resolve(here, '..', 'static');
const tmpdir = `${outdir}.tmp-${process.pid}`;

const common = {
  bundle: true,
  minify: true,
  legalComments: 'none',
  target: ['es2022'],
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"' },
};

const FONT_EXT = { woff2: 'woff2', woff: 'woff', ttf: 'ttf', otf: 'otf', truetype: 'ttf' };

// Replaces url(data:font/...;base64,...) in the CSS with url(fonts/<hash>.<ext>).
async function extractInlineFonts(cssFile) {
  const css = await readFile(cssFile, 'utf8');
  const fontDir = path.join(path.dirname(cssFile), 'fonts');
  await mkdir(fontDir, { recursive: true });
  const pattern = /url\(\s*(["']?)data:(?:font|application)\/(?:x-font-)?([a-z0-9]+)(?:;charset=[^;,]+)?;base64,([A-Za-z0-9+/=\s]+)\1\s*\)/g;
  let count = 0;
  const written = new Set();
  const pending = [];
  const out = css.replace(pattern, (_match, _quote, kind, b64) => {
    const ext = FONT_EXT[kind.toLowerCase()];
    if (!ext) {
      throw new Error(`unexpected inline font type "${kind}" in ${cssFile}`);
    }
    const bytes = Buffer.from(b64.replace(/\s+/g, ''), 'base64');
    const name = `${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}.${ext}`;
    if (!written.has(name)) {
      written.add(name);
      pending.push(writeFile(path.join(fontDir, name), bytes));
    }
    count += 1;
    return `url(fonts/${name})`;
  });
  await Promise.all(pending);
  if (/url\(\s*["']?data:(?:font|application\/(?:x-)?font)/.test(out)) {
    throw new Error(`inline fonts left in ${cssFile}`);
  }
  await writeFile(cssFile, out);
  return count;
}

async function main() {
  await rm(tmpdir, { recursive: true, force: true });

  await esbuild.build({
    ...common,
    entryPoints: { graphiql: path.join(here, 'src', 'main.jsx') },
    outdir: tmpdir,
    format: 'iife',
    jsx: 'automatic',
    // The example operations (../examples/*.graphql) are bundled as strings.
    loader: {
      '.ttf': 'file',
      '.woff': 'file',
      '.woff2': 'file',
      '.svg': 'dataurl',
      '.graphql': 'text',
    },
    assetNames: 'fonts/[name]-[hash]',
  });

  await esbuild.build({
    ...common,
    entryPoints: {
      'workers/editor.worker': 'monaco-editor/esm/vs/editor/editor.worker.js',
      'workers/json.worker': 'monaco-editor/esm/vs/language/json/json.worker.js',
      'workers/graphql.worker': 'monaco-graphql/esm/graphql.worker.js',
    },
    outdir: tmpdir,
    format: 'iife',
  });

  const fonts = await extractInlineFonts(path.join(tmpdir, 'graphiql.css'));

  // Swap the finished tree in so a failed build never leaves a half-written
  // static/ folder behind.
  await rm(outdir, { recursive: true, force: true });
  await rename(tmpdir, outdir);
  console.log(`graphiql bundle written to ${path.relative(process.cwd(), outdir) || '.'} (${fonts} inline fonts extracted)`);
}

main().catch(async (err) => {
  await rm(tmpdir, { recursive: true, force: true });
  console.error(err);
  process.exit(1);
});
