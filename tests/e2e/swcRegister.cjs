// A require hook that strips TypeScript with swc, the transform jest uses (jest.config.js), for
// the children of rehearsal.test.ts: ~1 s less CPU per child than ts-node's. The README's
// `npm run rehearse` keeps ts-node, and one test runs it that way.
"use strict";
const { readFileSync } = require("node:fs");
const { transformSync } = require("@swc/core");

require.extensions[".ts"] = (module, filename) => {
  const { code } = transformSync(readFileSync(filename, "utf8"), {
    filename,
    jsc: { parser: { syntax: "typescript" }, target: "es2022" },
    module: { type: "commonjs" },
    sourceMaps: "inline",
  });
  module._compile(code, filename);
};
