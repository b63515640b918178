require "uri"

# Links to the search page.
module Query
  # a URL query string from a hash: {q: "ruby", page: 2} -> "q=ruby&page=2"; keys and values encoded as HTML forms
  # encode them
  def self.build(params)
    params.map do |key, value|
      "#{URI.encode_www_form_component(key.to_s)}=#{URI.encode_www_form_component(value.to_s)}"
    end.join("&")
  end
end
