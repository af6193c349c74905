// @ts-check
// `npm run lint`: typescript-eslint's type-aware recommended set over src/, test/ and bench/.
// Type-aware because the rules that matter most in a daemon need types: a promise nobody awaits
// (no-floating-promises) or an async callback handed to an API that ignores what it returns
// (no-misused-promises) is a rejection that kills the harvester or is lost.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'bench/results/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          // node:test's describe() and it() return promises that the runner itself awaits;
          // awaiting them in a test file would serialise nothing and only add noise.
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite'] },
          ],
        },
      ],
      // Passing on a rejection reason we were given (typed unknown) is fine, as only-throw-error
      // allows rethrowing one by default; what stays refused is rejecting with a made-up non-Error.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
      // `_name` marks a parameter that a signature needs and the body does not, as tsc reads it.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      // Beyond the recommended set. `return promise` inside try/catch/finally skips the catch and
      // runs the finally (a lock's release, a file's close) before the promise settles.
      '@typescript-eslint/return-await': ['error', 'in-try-catch'],
      // Messages, outcomes and option types are unions on a kind: a switch over one names every
      // kind (or has a default), so a new kind is handled everywhere or fails here.
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      // Values come from the wire, NATS and config files: no coercing comparisons (== null is
      // kept for null-or-undefined).
      eqeqeq: ['error', 'always', { null: 'ignore' }],
    },
  },
  // A function that does not fit on a screen or two does several jobs: each gets a name. Tests
  // are left out: a test reads best as one story, setup to assertion.
  { files: ['src/**/*.ts'], rules: { 'max-lines-per-function': ['error', { max: 80 }] } },
  // The config file itself is plain JavaScript outside tsconfig.json.
  { files: ['eslint.config.js'], ...tseslint.configs.disableTypeChecked },
);
