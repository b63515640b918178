const test = require("node:test");
const assert = require("node:assert");
const lib = require("./dist/lib.js");

test("judge", () => {
  [1, 3, 5, 7, 9].forEach((x, i) => assert.strictEqual(lib.find([1, 3, 5, 7, 9], x), i));
  assert.strictEqual(lib.find([1, 3, 5], 4), -1);
  assert.strictEqual(lib.find([], 4), -1);
});
