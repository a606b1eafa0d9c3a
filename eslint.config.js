// The linter (npm run lint, part of npm test): neostandard's common style for TypeScript and the page's JavaScript.
import neostandard from 'neostandard'

export default [
  // global ignores: the bundle and other build output, dependencies, generated results, scratch scripts
  { ignores: ['dist/**', 'node_modules/**', 'bench/results/**', '.ci/**', '.tap/**', '.scratch/**'] },
  ...neostandard({ ts: true }),
  {
    rules: {
      // `void promise` marks a promise deliberately not awaited (a fire-and-forget start or stop)
      'no-void': ['error', { allowAsStatement: true }]
    }
  },
  {
    files: ['src/api/page/app.js'],
    languageOptions: { globals: { window: 'readonly', document: 'readonly', fetch: 'readonly', location: 'readonly', EventSource: 'readonly', requestAnimationFrame: 'readonly', performance: 'readonly', navigator: 'readonly', localStorage: 'readonly', history: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', URLSearchParams: 'readonly', console: 'readonly', Element: 'readonly', cancelAnimationFrame: 'readonly' } }
  }
]
