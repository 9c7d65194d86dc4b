// Generates src/generated/<program>/ from the Anchor (0.30+) IDLs in programs/idl/ with
// Codama: one kit-compatible client per program (instructions with PDA defaults, accounts,
// types, errors, program address). Run by `npm run generate` and `npm run build`.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rootNodeFromAnchor } from '@codama/nodes-from-anchor';
import { renderVisitor } from '@codama/renderers-js';
import { visit } from '@codama/visitors-core';

const here = dirname(fileURLToPath(import.meta.url));
const idlDir = join(here, '..', '..', 'programs', 'idl');
export const PROGRAMS = ['registry', 'energy_token', 'trading', 'certificates'];

for (const name of PROGRAMS) {
  const idl = JSON.parse(readFileSync(join(idlDir, `${name}.json`), 'utf8'));
  const anchorRoot = rootNodeFromAnchor(idl);
  // Events are left out: this renderer version has no event codecs (hiddenPrefix event
  // nodes); transactions, accounts, types and errors are what a client needs.
  // Empty lists the Anchor importer leaves out are spelled out, as the renderer expects them.
  const program = anchorRoot.program;
  const root = {
    ...anchorRoot,
    program: {
      ...program,
      events: [],
      definedTypes: program.definedTypes ?? [],
      instructions: program.instructions.map((ix) => ({
        ...ix,
        extraArguments: ix.extraArguments ?? [],
        remainingAccounts: ix.remainingAccounts ?? [],
        byteDeltas: ix.byteDeltas ?? [],
        subInstructions: ix.subInstructions ?? [],
      })),
    },
  };
  await visit(root, renderVisitor(here, {
    generatedFolder: join('src', 'generated', name),
    syncPackageJson: false,
    kitImportStrategy: 'rootOnly',
  }));
  console.log(`generated src/generated/${name}`);
}
