require "minitest/autorun"
require "grouping"

class JudgeTest < Minitest::Test
  def test_groups_by_first_letter_in_order
    assert_equal({ "a" => %w[apple avocado], "b" => %w[banana] }, Grouping.by_initial(%w[apple banana avocado]))
  end

  def test_initials_ignore_case
    assert_equal({ "c" => %w[Cherry cranberry] }, Grouping.by_initial(%w[Cherry cranberry]))
  end

  def test_groups_do_not_share_a_list
    groups = Grouping.by_initial(%w[kiwi lime])
    assert_equal %w[kiwi], groups["k"]
    assert_equal %w[lime], groups["l"]
    assert_equal({}, Grouping.by_initial([]))
  end
end
