require "minitest/autorun"
require "keys"

class JudgeTest < Minitest::Test
  def test_nested_hashes
    assert_equal({ db: { host: "x", port: 5432 }, debug: true },
                 Keys.symbolize({ "db" => { "host" => "x", "port" => 5432 }, "debug" => true }))
  end

  def test_hashes_inside_arrays
    assert_equal({ servers: [{ name: "a" }, { name: "b", tags: %w[web eu] }] },
                 Keys.symbolize({ "servers" => [{ "name" => "a" }, { "name" => "b", "tags" => %w[web eu] }] }))
  end

  def test_the_argument_is_left_alone
    settings = { "db" => { "host" => "x" }, "list" => [{ "k" => 1 }] }
    before = Marshal.load(Marshal.dump(settings))
    Keys.symbolize(settings)
    assert_equal before, settings
  end
end
