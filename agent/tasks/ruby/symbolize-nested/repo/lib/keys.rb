# Settings loaded from YAML come with String keys; the app reads them with Symbols.
module Keys
  # a copy of hash with Symbol keys: {"a" => 1} -> {a: 1}
  def self.symbolize(hash)
    hash.to_h { |key, value| [key.to_sym, value] }
  end
end
