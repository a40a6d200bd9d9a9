/**
 * `@podnet/core/testing`: fixtures and the shared contract suites every plugin of a kind runs
 * (describeOverlayBackend, describeServiceProxy, ... are added by the issues that define them).
 */
export * from './cluster-fixture.js';
export * from './errors.js';
export * from './netns.js';
export * from './overlay-suite.js';
export * from './proxy-fixtures.js';
export * from './service-proxy-suite.js';
