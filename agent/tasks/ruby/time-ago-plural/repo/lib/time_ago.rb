# "posted 3 hours ago" labels for the activity feed.
module TimeAgo
  UNITS = [["day", 86_400], ["hour", 3600], ["minute", 60], ["second", 1]].freeze

  # 10800 -> "3 hours ago"; under a second -> "just now"
  def self.describe(seconds)
    return "just now" if seconds < 1

    name, size = UNITS.find { |_, s| seconds >= s }
    count = (seconds / size).floor
    "#{count} #{name}s ago"
  end
end
