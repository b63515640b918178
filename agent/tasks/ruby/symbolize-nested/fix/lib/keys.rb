# Settings loaded from YAML come with String keys; the app reads them with Symbols.
module Keys
  # a copy of value with Symbol keys at every level, in nested hashes and in arrays: {"a" => {"b" => 1}} -> {a: {b: 1}}
  def self.symbolize(value)
    case value
    when Hash then value.to_h { |key, v| [key.to_sym, symbolize(v)] }
    when Array then value.map { |v| symbolize(v) }
    else value
    end
  end
end
