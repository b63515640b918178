const test = require("node:test");
const assert = require("node:assert");
const lib = require("./dist/lib.js");

test("judge", () => {
  assert.deepStrictEqual(lib.chunks([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]]);
  assert.deepStrictEqual(lib.chunks([1, 2, 3, 4], 2), [[1, 2], [3, 4]]);
  assert.deepStrictEqual(lib.chunks([], 3), []);
});
