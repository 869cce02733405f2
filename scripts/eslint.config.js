// ESLint flat config, kept under scripts/ so the top level holds only the files the project guide lists.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.tap/**', 'test/fixtures/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-properties': [
        'error',
        {
          object: 'process',
          property: 'exit',
          message: 'Only the entry points (agent/main.ts, client/cli/main.ts) may exit.',
        },
      ],
    },
  },
  {
    // Plain JavaScript run by node (scripts/build-browser.js runs before tsc).
    files: ['scripts/**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
  {
    files: ['agent/main.ts', 'client/cli/main.ts', 'scripts/**', 'test/**'],
    rules: { 'no-restricted-properties': 'off' },
  },
  // client/'s layers (client/README.md): transport/ and kube/ → routing/ → agent-client.ts, history/, profile-pod.ts →
  // index.ts, cli/. An import back up, or into agent/, fails here.
  ...clientLayer(
    ['client/transport/**', 'client/kube/**'],
    ['../*.js', '../routing/**', '../history/**', '../cli/**', '../kube/**', '../transport/**'],
  ),
  ...clientLayer(['client/routing/**'], ['../*.js', '../history/**', '../cli/**']),
  ...clientLayer(['client/history/**'], ['../*.js', '../cli/**']),
  ...clientLayer(['client/*.ts'], ['./cli/**']),
);

/** A block that keeps `files` from importing `group` (gitignore patterns of import paths) or anything in agent/. */
function clientLayer(files, group) {
  return [
    {
      files,
      rules: {
        'no-restricted-imports': [
          'error',
          {
            patterns: [
              { group, message: 'an import back up between client/ layers: see client/README.md' },
              { group: ['**/agent/**'], message: 'client/ never imports agent/: what both use lives in shared/' },
            ],
          },
        ],
      },
    },
  ];
}
