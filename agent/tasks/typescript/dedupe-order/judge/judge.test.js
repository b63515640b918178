const test = require("node:test");
const assert = require("node:assert");
const lib = require("./dist/lib.js");

test("judge", () => {
  assert.deepStrictEqual(lib.dedupe(["b", "a", "b", "c", "a"]), ["b", "a", "c"]);
  assert.deepStrictEqual(lib.dedupe(["z", "y", "z"]), ["z", "y"]);
});
