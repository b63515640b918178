require "minitest/autorun"
require "stats"

class JudgeTest < Minitest::Test
  def test_integer_lists_give_the_exact_mean
    assert_in_delta 1.5, Stats.mean([1, 2]), 1e-9
    assert_in_delta 7 / 3.0, Stats.mean([1, 2, 4]), 1e-9
  end

  def test_the_mean_is_a_float
    assert_kind_of Float, Stats.mean([2, 4])
    assert_in_delta 3.0, Stats.mean([2, 4]), 1e-9
    assert_in_delta 3.0, Stats.mean([2.5, 3.5]), 1e-9
  end

  def test_empty_gives_nil
    assert_nil Stats.mean([])
  end
end
