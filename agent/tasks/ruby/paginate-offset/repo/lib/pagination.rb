# Paging through search results.
module Pagination
  # the items on page number `page` (pages start at 1), per_page at a time; [] past the end
  def self.page(items, page, per_page: 10)
    items[page * per_page, per_page] || []
  end
end
