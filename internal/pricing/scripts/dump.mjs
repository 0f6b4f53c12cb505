// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

// Writes the price data of the installed @pydantic/genai-prices package, its
// licence and its version into the directory given as the first argument.
// Run by `make prices`; see internal/pricing/doc.go.
import { waitForUpdate } from '@pydantic/genai-prices';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const out = process.argv[2];
if (!out) {
  throw new Error('usage: node dump.mjs OUTPUT_DIR');
}
// The package's entry point lives in dist/; its package.json and LICENSE
// one level up.
const pkgDir = dirname(dirname(createRequire(import.meta.url).resolve('@pydantic/genai-prices')));
const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));

// waitForUpdate() resolves to the provider data the package embeds when no
// remote update was asked for: exactly what its calcPrice uses.
const providers = await waitForUpdate();
writeFileSync(join(out, 'prices.json'), JSON.stringify(providers, null, 1) + '\n');
copyFileSync(join(pkgDir, 'LICENSE'), join(out, 'LICENSE'));
writeFileSync(join(out, 'VERSION'), `${pkg.name}@${pkg.version}\n`);
