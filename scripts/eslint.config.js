// ESLint flat config, kept under scripts/ so the top level holds only the files the project guide lists.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';

/**
 * agent/'s folders from the bottom up (agent/README.md, "Layers"): a folder imports only the folders listed for it
 * (and shared/, and the leaf modules metrics.ts and logging.ts); the top-level assembly (config, agent, parts, main,
 * instrumented-runtime) imports anything and is imported by none of them.
 */
const AGENT_LAYERS = {
  kube: [],
  runtime: [],
  pods: ['kube', 'runtime'],
  targets: ['runtime'],
  store: [],
  export: [],
  auth: ['kube'],
  authz: ['auth', 'kube'],
  access: ['auth', 'authz', 'kube'],
  profiles: ['runtime', 'targets'],
  schedules: ['profiles', 'store', 'export', 'pods', 'runtime', 'targets'],
  server: ['access', 'auth', 'authz', 'profiles', 'schedules', 'store', 'export', 'pods', 'runtime', 'targets'],
};
const AGENT_TOP_LEVEL = ['config', 'agent', 'parts', 'main', 'instrumented-runtime'];

const upward = (allowed) => Object.keys(AGENT_LAYERS).filter((f) => !allowed.includes(f));

const layerRules = Object.entries(AGENT_LAYERS).map(([folder, allowed]) => ({
  files: [`agent/${folder}/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          {
            regex: `^(\\.\\./)+(${upward([...allowed, folder]).join('|')})/`,
            message: `agent/${folder}/ may import only ${allowed.join(', ') || 'no other agent folder'} (agent/README.md, "Layers")`,
          },
          {
            regex: `^(\\.\\./)+(${AGENT_TOP_LEVEL.join('|')})\\.js$`,
            message: 'the assembly (config, agent, parts, main) imports the folders, never the other way round',
          },
          { regex: '^(\\.\\./)+client/', message: 'agent/ and client/ never import each other' },
        ],
      },
    ],
  },
}));

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
  // client/'s layers (client/README.md): transport/ and kube/ → routing/ → agent-client.ts, history/, install/,
  // profile-pod.ts →
  // index.ts, cli/. An import back up, or into agent/, fails here.
  ...clientLayer(
    ['client/transport/**', 'client/kube/**'],
    ['../*.js', '../routing/**', '../history/**', '../install/**', '../cli/**', '../kube/**', '../transport/**'],
  ),
  ...clientLayer(['client/routing/**'], ['../*.js', '../history/**', '../install/**', '../cli/**']),
  ...clientLayer(['client/install/**'], ['../*.js', '../history/**', '../routing/**', '../cli/**']),
  ...clientLayer(['client/history/**'], ['../*.js', '../cli/**']),
  ...clientLayer(['client/*.ts'], ['./cli/**']),
  // No import circles anywhere in the product code.
  {
    files: ['agent/**/*.ts', 'shared/**/*.ts', 'client/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      ...importX.flatConfigs.typescript.settings,
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: 'tsconfig.json' })],
    },
    rules: { 'import-x/no-cycle': ['error', { ignoreExternal: true }] },
  },
  ...layerRules,
  {
    files: ['shared/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(\\.\\./)+(agent|client)/',
              message: 'shared/ is used by agent/ and client/, never the other way',
            },
          ],
        },
      ],
    },
  },
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
