const test = require("node:test");
const assert = require("node:assert");
const lib = require("./dist/lib.js");

test("judge", () => {
  assert.strictEqual(lib.median([4, 1, 3, 2]), 2.5);
  assert.strictEqual(lib.median([5, 1, 3]), 3);
});
