// Moved to test/support/responsibilities.ts; kept here for the tests that still import it
// from this path.
export * from '../support/responsibilities';
