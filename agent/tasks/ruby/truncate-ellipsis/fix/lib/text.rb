# Text helpers for the notification previews.
module Text
  ELLIPSIS = "...".freeze

  # text shortened to at most length characters (length >= 3), ending in "..." when it was cut
  def self.truncate(text, length)
    return text if text.length <= length

    text[0, length - ELLIPSIS.length] + ELLIPSIS
  end
end
