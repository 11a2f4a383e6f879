/**
 * @swc/jest strips types without type-checking: `npm run typecheck` (tsc --noEmit)
 * does that once in CI instead of once per test file, which is the slow path with
 * azure-native's declarations.
 * @type {import('jest').Config}
 */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>"],
  testPathIgnorePatterns: ["/node_modules/", "/bin/", "/.ci/"],
  testMatch: ["**/*.test.ts"],
  transform: {
    "^.+\\.ts$": ["@swc/jest", { jsc: { parser: { syntax: "typescript" }, target: "es2022" }, module: { type: "commonjs" } }],
  },
  testTimeout: 60000,
  globalSetup: "<rootDir>/tests/globalSetup.ts",
  // Pulumi keeps its runtime state on the global object; jest 30 would warn on every file.
  testEnvironmentOptions: { globalsCleanup: "off" },
};
