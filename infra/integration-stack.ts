/**
 * Moved: the stacks are infra/root-stack.ts (stateful and shared resources) and
 * infra/feature-stack.ts (one nested stack per feature). This alias stays only for the bundle
 * benchmark's enumeration (test/bench/bundle-functions.ts), until it imports root-stack.ts.
 * @deprecated import from `./root-stack.ts`
 */
export { FALLBACK_HANDLER } from './root-stack.ts';
