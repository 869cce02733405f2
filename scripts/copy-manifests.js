// @ts-check
// `npm run build` step: copies manifests/ to dist/manifests/, where `podflame install` reads the install it applies
// (client/install/bundled-manifests.ts finds it at ../../manifests/ from dist/client/install/, as it finds the
// checkout's manifests/ from client/install/). The package ships dist/ only ("files" in package.json).
//   node scripts/copy-manifests.js
import { cpSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const target = join(ROOT, 'dist', 'manifests');
// A file removed from manifests/ must not linger in dist/.
rmSync(target, { recursive: true, force: true });
cpSync(join(ROOT, 'manifests'), target, { recursive: true, filter: (src) => !src.endsWith('.md') });
