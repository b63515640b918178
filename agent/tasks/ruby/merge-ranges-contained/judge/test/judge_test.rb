require "minitest/autorun"
require "ranges"

class JudgeTest < Minitest::Test
  def test_a_range_inside_another_does_not_shrink_it
    assert_equal [1..10], Ranges.merge([1..10, 2..3])
    assert_equal [0..20, 25..30], Ranges.merge([25..30, 0..20, 5..6, 8..19])
  end

  def test_overlapping_and_touching
    assert_equal [1..5, 7..8], Ranges.merge([1..3, 2..5, 7..8])
    assert_equal [1..6], Ranges.merge([5..6, 1..2, 3..4])
    assert_equal [], Ranges.merge([])
  end
end
