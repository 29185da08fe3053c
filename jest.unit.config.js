/**
 * `npm run test:unit`: the tests under test/unit/, which need no root, no
 * network namespace and no Pacemaker. `npm test` runs them with the rest
 * (jest.config.js matches test/ as a whole).
 */
import base from './jest.config.js';

export default { ...base, testMatch: ['<rootDir>/test/unit/**/*.test.ts'] };
