require "minitest/autorun"
require "pagination"

class JudgeTest < Minitest::Test
  ITEMS = (1..25).to_a

  def test_pages_start_at_one
    assert_equal (1..10).to_a, Pagination.page(ITEMS, 1)
    assert_equal (11..20).to_a, Pagination.page(ITEMS, 2)
    assert_equal [21, 22, 23, 24, 25], Pagination.page(ITEMS, 3)
    assert_equal [4, 5, 6], Pagination.page(ITEMS, 2, per_page: 3)
  end

  def test_past_the_end_is_empty
    assert_equal [], Pagination.page(ITEMS, 4)
    assert_equal [], Pagination.page(ITEMS, 9)
  end

  def test_page_zero_is_an_error
    assert_raises(ArgumentError) { Pagination.page(ITEMS, 0) }
    assert_raises(ArgumentError) { Pagination.page(ITEMS, -1) }
  end
end
