const test = require("node:test");
const assert = require("node:assert");
const lib = require("./dist/lib.js");

test("judge", () => {
  assert.strictEqual(lib.isLeap(1900), false);
  assert.strictEqual(lib.isLeap(2000), true);
  assert.strictEqual(lib.isLeap(2024), true);
  assert.strictEqual(lib.isLeap(2023), false);
});
