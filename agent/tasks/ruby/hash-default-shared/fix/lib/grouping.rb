# Groups words by their first letter.
module Grouping
  # %w[apple banana avocado] -> {"a" => ["apple", "avocado"], "b" => ["banana"]}
  def self.by_initial(words)
    groups = {}
    words.each { |word| (groups[word[0].downcase] ||= []) << word }
    groups
  end
end
