# Links to the search page.
module Query
  # a URL query string from a hash: {q: "ruby", page: 2} -> "q=ruby&page=2"
  def self.build(params)
    params.map { |key, value| "#{key}=#{value}" }.join("&")
  end
end
