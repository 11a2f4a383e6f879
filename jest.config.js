/**
 * Four tiers, by path: unit suites beside their code; tests/pwsh/ (they start PowerShell); tests/sh/
 * (the sh probe under dash and busybox);
 * tests/e2e/ (whole rehearsals and tools). `npm run test:unit` is the quick loop
 * (`jest --selectProjects unit`); `npm test` runs all three.
 *
 * @swc/jest strips types without type-checking: `npm run typecheck` (tsc --noEmit)
 * does that once in CI instead of once per test file, which is the slow path with
 * azure-native's declarations.
 */
const os = require("node:os");

const tier = (displayName, testMatch, testPathIgnorePatterns = []) => ({
  displayName,
  testEnvironment: "<rootDir>/tests/jestEnvironment.ts",
  rootDir: __dirname,
  roots: ["<rootDir>"],
  testMatch,
  testPathIgnorePatterns: ["/node_modules/", "/bin/", "/.ci/", ...testPathIgnorePatterns],
  transform: {
    "^.+\\.ts$": ["@swc/jest", { jsc: { parser: { syntax: "typescript" }, target: "es2022" }, module: { type: "commonjs" } }],
  },
  // Pulumi keeps its runtime state on the global object; jest 30 would warn on every file.
  testEnvironmentOptions: { globalsCleanup: "off" },
});

/** @type {import('jest').Config} */
module.exports = {
  projects: [
    tier("unit", ["<rootDir>/**/*.test.ts"], ["<rootDir>/tests/pwsh/", "<rootDir>/tests/sh/", "<rootDir>/tests/e2e/"]),
    tier("pwsh", ["<rootDir>/tests/pwsh/**/*.test.ts"]),
    // The POSIX sh probe under dash and busybox sh (tools from Debian's packages, see offline/debianTools.ts).
    tier("sh", ["<rootDir>/tests/sh/**/*.test.ts"]),
    tier("e2e", ["<rootDir>/tests/e2e/**/*.test.ts"]),
  ],
  testTimeout: 60000,
  // Restores the pinned PowerShell once, before any worker starts (a fresh machine has none).
  globalSetup: "<rootDir>/tests/globalSetup.ts",
  globalTeardown: "<rootDir>/tests/globalTeardown.ts",
  // The slow suites mostly wait on child processes (pwsh, rehearsals), so one worker per
  // core (jest's default is cores - 1, i.e. a single in-band run on 2 cores) keeps both busy.
  maxWorkers: Math.max(2, os.availableParallelism()),
};
