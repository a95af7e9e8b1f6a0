// The test programs' own environment (not pid-guard's types): the two globals they use, so the
// types test runs with no @types/node and no DOM library, as a consumer without them would.
declare const console: { log(...args: unknown[]): void }
declare class AbortController {
  readonly signal: { readonly aborted: boolean; addEventListener(type: 'abort', listener: () => void): void; removeEventListener(type: 'abort', listener: () => void): void }
  abort(reason?: unknown): void
}
