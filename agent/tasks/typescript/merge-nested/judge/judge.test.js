const test = require("node:test");
const assert = require("node:assert");
const lib = require("./dist/lib.js");

test("judge", () => {
  const base = { db: { host: "a", port: 1 }, debug: false };
  assert.deepStrictEqual(lib.merge(base, { db: { port: 2 }, debug: true }), { db: { host: "a", port: 2 }, debug: true });
  assert.deepStrictEqual(base, { db: { host: "a", port: 1 }, debug: false });
});
