# Reads the lines of the CSV exports our accounting tool writes.
module CsvLine
  # the fields of one line: "a,b,c" -> ["a", "b", "c"]
  def self.parse(line)
    line.chomp.split(",")
  end
end
