const test = require("node:test");
const assert = require("node:assert");
const lib = require("./dist/lib.js");

test("judge", () => {
  assert.deepStrictEqual(lib.largest([5, 100, 20], 2), [100, 20]);
  assert.deepStrictEqual(lib.largest([3, 1, 2], 5), [3, 2, 1]);
});
