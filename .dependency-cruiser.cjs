/**
 * Import rules for src/: each folder imports only downward along the data path
 *   base (errors, types, progress, within, tensor/) → manifest → download → cache → update → backend →
 *   runtime → pipeline → worker → entry files (load-model, index, in-thread, connection)
 * and nothing imports in a circle. The CLI may use any layer below the entry files; nothing imports it.
 * src/node/ (the `ondevice/node` entry) and src/serve/ sit on top, beside the CLI: the browser code
 * imports neither, nor any Node built-in module.
 * `npm test` runs this first (npm run check:imports).
 */
const LAYERS = [
  ['base', '^src/(errors|types|progress|within)\\.ts$|^src/tensor/'],
  ['manifest', '^src/manifest/'],
  ['download', '^src/download/'],
  ['cache', '^src/cache/'],
  ['update', '^src/update/'],
  ['backend', '^src/backend/'],
  ['runtime', '^src/runtime/'],
  ['pipeline', '^src/pipeline/'],
  ['worker', '^src/worker/'],
  ['entry', '^src/(load-model|model|index|in-thread|connection|transformers-hook|transformers-cache)\\.ts$'],
];

const upward = LAYERS.slice(0, -1).map(([name, path], i) => ({
  name: `${name}-imports-up`,
  comment: `${name} is below ${LAYERS.slice(i + 1).map(([n]) => n).join(', ')} on the data path: it must not import them`,
  severity: 'error',
  from: { path },
  to: { path: LAYERS.slice(i + 1).map(([, p]) => `(${p})`).join('|') },
}));

module.exports = {
  forbidden: [
    ...upward,
    {
      name: 'no-circular',
      comment: 'A circle of imports hides which module owns what',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'browser-code-imports-no-node',
      comment: "The browser entry and its workers must not pull in ondevice/node, serve, or Node's built-in modules",
      severity: 'error',
      from: { path: '^src/(?!cli/|node/|serve/)' },
      to: { path: '^src/(node|serve)/' },
    },
    {
      name: 'browser-code-imports-no-node-builtins',
      severity: 'error',
      from: { path: '^src/(?!cli/|node/|serve/)' },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'nothing-imports-the-cli',
      severity: 'error',
      from: { path: '^src/(?!cli/)' },
      to: { path: '^src/cli/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    parser: 'swc',
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '\\.d\\.ts$' },
  },
};
