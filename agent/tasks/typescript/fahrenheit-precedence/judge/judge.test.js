const test = require("node:test");
const assert = require("node:assert");
const lib = require("./dist/lib.js");

test("judge", () => {
  const close = (a, b) => Math.abs(a - b) < 1e-9;
  assert.ok(close(lib.fahrenheitToCelsius(212), 100));
  assert.ok(close(lib.fahrenheitToCelsius(32), 0));
  assert.ok(close(lib.fahrenheitToCelsius(-40), -40));
});
