require "minitest/autorun"
require "csv_line"

class JudgeTest < Minitest::Test
  def test_plain_fields
    assert_equal %w[x y z], CsvLine.parse("x,y,z\n")
  end

  def test_quoted_fields_keep_their_commas
    assert_equal ["1", "Smith, John", "42"], CsvLine.parse(%(1,"Smith, John",42))
  end

  def test_doubled_quotes_are_one_quote
    assert_equal ["a", 'say "hi"', "b"], CsvLine.parse(%(a,"say ""hi""",b))
  end

  def test_empty_fields_are_kept
    assert_equal ["a", "", "b"], CsvLine.parse("a,,b")
    assert_equal ["a", "b", ""], CsvLine.parse("a,b,\n")
  end
end
