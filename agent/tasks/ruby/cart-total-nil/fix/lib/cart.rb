# The shop's basket.
module Cart
  # the price of everything in the basket, in cents; items are {name:, price:, qty:} with price in cents
  def self.total(items)
    items.inject(0) { |sum, item| item[:qty].positive? ? sum + item[:price] * item[:qty] : sum }
  end
end
