const test = require("node:test");
const assert = require("node:assert");
const lib = require("./dist/lib.js");

test("judge", () => {
  assert.strictEqual(lib.snakeCase("parseHTTPResponse"), "parse_http_response");
  assert.strictEqual(lib.snakeCase("HTTPServer"), "http_server");
  assert.strictEqual(lib.snakeCase("userId"), "user_id");
  assert.strictEqual(lib.snakeCase("UserName"), "user_name");
});
