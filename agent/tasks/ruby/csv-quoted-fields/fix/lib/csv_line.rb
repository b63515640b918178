# Reads the lines of the CSV exports our accounting tool writes.
module CsvLine
  # the fields of one line: "a,b,c" -> ["a", "b", "c"]; a field in double quotes may hold commas, and "" inside
  # it is one quote
  def self.parse(line)
    fields = []
    field = +""
    quoted = false
    chars = line.chomp.chars
    i = 0
    while i < chars.size
      c = chars[i]
      if quoted
        if c == '"' && chars[i + 1] == '"'
          field << '"'
          i += 1
        elsif c == '"'
          quoted = false
        else
          field << c
        end
      elsif c == '"'
        quoted = true
      elsif c == ","
        fields << field
        field = +""
      else
        field << c
      end
      i += 1
    end
    fields << field
  end
end
