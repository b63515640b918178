require "minitest/autorun"
require "uri"
require "query"

class JudgeTest < Minitest::Test
  def test_plain_values
    assert_equal "q=ruby&page=2", Query.build({ q: "ruby", page: 2 })
  end

  def test_special_characters_are_encoded
    assert_equal "q=fish+%26+chips&tag=a%3Db", Query.build({ q: "fish & chips", tag: "a=b" })
    assert_equal "city=Z%C3%BCrich", Query.build({ city: "Zürich" })
  end

  def test_a_server_reads_back_what_was_sent
    params = { "q" => "100% sure?", "sort" => "name&date", "lang" => "en+fr" }
    assert_equal params.to_a, URI.decode_www_form(Query.build(params))
  end
end
