import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const PROTOCOLS = ['rest', 'acme', 'est', 'scep', 'status', 'cmp', 'console', 'mcp'];

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'data/', 'coverage/', 'console/dist/', 'test-artifacts/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  {
    files: ['bin/**/*.js'],
    languageOptions: { globals: { process: 'readonly' } },
  },
  {
    // Rules of the house: the core never imports a protocol. The protocols reach the core through
    // main.ts, the entry point, which hands protocols/index.ts's list to the CLI.
    files: ['src/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: ['**/protocols/**'] }] },
  },
  {
    // The console runs in a browser: it reaches the gateway only over HTTP, never by importing it.
    files: ['console/src/**/*.{ts,tsx}'],
    rules: { 'no-restricted-imports': ['error', { patterns: ['**/protocols/**', '../../src/**', '../../../src/**', '../../../../src/**'] }] },
  },
  ...PROTOCOLS.map((p) => ({
    // ...and a protocol never imports another protocol.
    files: [`protocols/${p}/**/*.ts`],
    rules: {
      'no-restricted-imports': ['error', { patterns: PROTOCOLS.filter((o) => o !== p).flatMap((o) => [`../${o}/**`, `**/protocols/${o}/**`]) }],
    },
  })),
);
