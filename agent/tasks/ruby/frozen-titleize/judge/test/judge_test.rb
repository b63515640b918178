require "minitest/autorun"
require "titleize"

class JudgeTest < Minitest::Test
  def test_titles
    assert_equal "The Lord of the Rings", Titleize.titleize("the lord of the rings")
    assert_equal "A Tale of Two Cities", Titleize.titleize("a TALE OF two cities")
    assert_equal "", Titleize.titleize("")
  end

  def test_the_argument_is_left_alone
    text = +"war and peace"
    assert_equal "War and Peace", Titleize.titleize(text)
    assert_equal "war and peace", text
  end

  def test_the_file_keeps_frozen_string_literals
    source = File.read(File.join(__dir__, "..", "lib", "titleize.rb"))
    assert_equal "# frozen_string_literal: true", source.lines.first.strip
  end
end
