# Booked hours of a room, as ranges of integers.
module Ranges
  # overlapping or touching ranges merged, in order: [1..3, 2..5, 7..8] -> [1..5, 7..8]
  def self.merge(ranges)
    merged = []
    ranges.sort_by(&:begin).each do |r|
      if merged.any? && r.begin <= merged.last.end + 1
        merged[-1] = (merged.last.begin..[merged.last.end, r.end].max)
      else
        merged << r
      end
    end
    merged
  end
end
