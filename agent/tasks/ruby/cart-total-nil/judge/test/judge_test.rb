require "minitest/autorun"
require "cart"

class JudgeTest < Minitest::Test
  def test_items_with_quantity_zero_count_for_nothing
    items = [{ name: "tea", price: 350, qty: 2 }, { name: "mug", price: 900, qty: 0 },
             { name: "jam", price: 425, qty: 1 }]
    assert_equal 1125, Cart.total(items)
  end

  def test_the_last_item_with_quantity_zero
    assert_equal 700, Cart.total([{ name: "tea", price: 350, qty: 2 }, { name: "mug", price: 900, qty: 0 }])
  end

  def test_plain_and_empty_baskets
    assert_equal 1600, Cart.total([{ name: "tea", price: 350, qty: 2 }, { name: "mug", price: 900, qty: 1 }])
    assert_equal 0, Cart.total([])
  end
end
