require "minitest/autorun"
require "text"

class JudgeTest < Minitest::Test
  def test_the_ellipsis_counts_toward_the_length
    assert_equal "hello...", Text.truncate("hello world", 8)
    assert_equal "ab...", Text.truncate("abcdef", 5)
    assert_equal "...", Text.truncate("abcdef", 3)
  end

  def test_short_text_is_unchanged
    assert_equal "hello", Text.truncate("hello", 5)
    assert_equal "hello world", Text.truncate("hello world", 11)
  end

  def test_never_longer_than_the_limit
    (3..12).each { |n| assert_operator Text.truncate("a long notification text", n).length, :<=, n }
  end
end
