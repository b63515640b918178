# frozen_string_literal: true

# Book and film titles in title case.
module Titleize
  SMALL_WORDS = %w[a an and at for in of on or the to].freeze

  # "the lord of the rings" -> "The Lord of the Rings"
  def self.titleize(text)
    result = ""
    text.split(" ").each_with_index do |word, i|
      result << " " unless i.zero?
      result << (i.positive? && SMALL_WORDS.include?(word.downcase) ? word.downcase : word.capitalize)
    end
    result
  end
end
