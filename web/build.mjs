// The production build of trackday's browser UI: bundles src/main.js and its CSS with esbuild
// (minified, content-hashed names under dist/assets/, served with a year's immutable cache)
// and writes dist/index.html, which loads them as files: no inline script or style, so the
// hub's Content-Security-Policy (script-src 'self', style-src 'self') holds.
//
//   node build.mjs            (make runs it through scripts/build-web after `npm ci`)
import * as esbuild from 'esbuild';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(here, 'dist');
const tmp = path.join(here, 'dist.tmp');

await rm(tmp, { recursive: true, force: true });
const result = await esbuild.build({
    entryPoints: { app: path.join(here, 'src/main.js') },
    bundle: true,
    format: 'esm',
    minify: true,
    sourcemap: false,
    target: ['chrome110', 'firefox115', 'safari16'],
    outdir: path.join(tmp, 'assets'),
    entryNames: '[name]-[hash]',
    assetNames: '[name]-[hash]',
    metafile: true,
    loader: { '.py': 'text' },
    legalComments: 'linked',
    logLevel: 'warning',
});
const outputs = Object.keys(result.metafile.outputs).map((p) => path.basename(p));
const js = outputs.find((f) => /^app-.*\.js$/.test(f));
const css = outputs.find((f) => /^app-.*\.css$/.test(f));
if (!js || !css) throw new Error(`build: no app bundle among ${outputs.join(', ')}`);
const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>trackday</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/${css}">
<script type="module" src="/assets/${js}"></script>
</head>
<body>
<noscript>trackday's pages need JavaScript; the same is available from the command line (trackday --help) and the HTTP API (/api/v1/openapi.json).</noscript>
<div id="app"></div>
</body>
</html>
`;
await writeFile(path.join(tmp, 'index.html'), html);
// Replace dist/ whole, so a hub serving it never sees half a build.
await rm(dist, { recursive: true, force: true });
await mkdir(path.dirname(dist), { recursive: true });
const { rename } = await import('node:fs/promises');
await rename(tmp, dist);
const files = await readdir(path.join(dist, 'assets'));
console.log(`web: built dist/ (${files.join(', ')})`);
