import js from '@eslint/js';
import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '**/.nx/**', '.scratch/**', '.arm64/**', 'models/**', 'bench/results/**', '**/src/generated/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    plugins: { '@nx': nx },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      eqeqeq: ['error', 'always'],
      'no-console': 'off',
      // Who may import whom (ARCHITECTURE.md): apps never import apps, libraries never import apps,
      // and serving code never imports the model tooling (importers, folding, conversion).
      '@nx/enforce-module-boundaries': [
        'error',
        {
          // Named exceptions: bench reuses the e2e harness (real processes on loopback), and the
          // Kubernetes tests check the manifests against each app's own configuration parser.
          allow: ['@edge-ssd/e2e', '@edge-ssd/detector/config', '@edge-ssd/gateway/config'],
          banTransitiveDependencies: true,
          checkDynamicDependenciesExceptions: [],
          depConstraints: [
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:lib'] },
            { sourceTag: 'type:lib', onlyDependOnLibsWithTags: ['type:lib'] },
            { sourceTag: 'type:test', onlyDependOnLibsWithTags: ['type:lib', 'type:test'] },
            { sourceTag: 'layer:serving', onlyDependOnLibsWithTags: ['layer:serving'] },
            { sourceTag: 'layer:tooling', onlyDependOnLibsWithTags: ['layer:serving', 'layer:tooling'] },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', module: 'writable', __dirname: 'readonly', process: 'readonly', console: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // The gateway's demo page runs in a browser, as a classic script.
    files: ['apps/gateway/static/**/*.js'],
    languageOptions: { sourceType: 'script', globals: { document: 'readonly', fetch: 'readonly', performance: 'readonly', URL: 'readonly' } },
  },
);
