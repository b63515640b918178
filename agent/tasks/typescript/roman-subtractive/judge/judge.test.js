const test = require("node:test");
const assert = require("node:assert");
const lib = require("./dist/lib.js");

test("judge", () => {
  assert.strictEqual(lib.toRoman(4), "IV");
  assert.strictEqual(lib.toRoman(9), "IX");
  assert.strictEqual(lib.toRoman(1994), "MCMXCIV");
  assert.strictEqual(lib.toRoman(2026), "MMXXVI");
});
