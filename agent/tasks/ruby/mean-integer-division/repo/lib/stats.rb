# Summary numbers for the weekly report.
module Stats
  # the arithmetic mean of a list of numbers; nil for an empty list
  def self.mean(values)
    return nil if values.empty?

    values.sum / values.size
  end
end
