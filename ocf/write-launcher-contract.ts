// Run by `npm run build`: writes the launcher's copy of the contract beside
// the built agent (dist/ocf/launcher-contract.sh), so the two always come
// from the same build.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { shellContract } from './launcher-contract.js';

writeFileSync(fileURLToPath(new URL('launcher-contract.sh', import.meta.url)), shellContract(), { mode: 0o644 });
