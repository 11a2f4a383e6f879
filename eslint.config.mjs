// Flat config: typescript-eslint's recommended rules everywhere, and Pulumi's
// rules (an Output inside a template literal prints "Calling [toString] on an
// Output<T> is not supported") with type information for the program's code.
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import pulumi from "@pulumi/eslint-plugin";

export default tseslint.config(
  { ignores: ["node_modules/", "bin/", ".ci/.tools/", "coverage/", ".tools/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ["**/*.ts"],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { "@pulumi": pulumi },
    rules: {
      "@pulumi/no-output-in-template-literal": "error",
      "@pulumi/no-output-instance-in-template-literal": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  {
    // Tests, the emulator and the rehearsal handle arbitrary JSON from the wire and Pulumi's internals.
    files: ["tests/**/*.ts", "**/*.test.ts", "bench/**/*.ts", "offline/**/*.ts", "policy/testkit.ts"],
    rules: { "@typescript-eslint/no-explicit-any": "off", "@typescript-eslint/no-require-imports": "off" },
  },
  {
    files: ["**/*.cjs", "**/*.js", "**/*.mjs"],
    languageOptions: {
      globals: {
        require: "readonly",
        module: "writable",
        process: "readonly",
        console: "readonly",
        __dirname: "readonly",
        Buffer: "readonly",
        setTimeout: "readonly",
        clearTimeout: "readonly",
        URL: "readonly",
      },
    },
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
  // The direction of the house: tests import the product, never the reverse; and the
  // deployed program (index.ts, components/, probe/, settings/) never needs the offline engine.
  {
    files: ["**/*.ts", "**/*.mjs", "**/*.cjs", "**/*.js"],
    ignores: ["tests/**", "**/*.test.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        { patterns: [{ group: ["**/tests/**", "tests/**"], message: "Product code never imports test code." }] },
      ],
      "no-restricted-syntax": [
        "error",
        {
          selector: "CallExpression[callee.name='require'][arguments.0.value=/(^|\\/)tests\\//]",
          message: "Product code never imports test code.",
        },
      ],
    },
  },
  {
    files: ["index.ts", "{components,probe,settings}/**/*.{ts,mjs,cjs,js}"],
    ignores: ["**/*.test.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { group: ["**/tests/**", "tests/**"], message: "Product code never imports test code." },
            { group: ["**/offline/**", "offline/**"], message: "The deployed program does not depend on the offline engine." },
          ],
        },
      ],
    },
  },
);
