/// Settings from the lines of a config file, "key = value" each; blank lines and lines starting with # are skipped.
/// "name = demo\nport = 8080" -> ["name": "demo", "port": "8080"]
public func parseSettings(_ text: String) -> [String: String] {
    var settings: [String: String] = [:]
    for line in text.split(separator: "\n") {
        let parts = line.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { continue }
        let key = trimmed(parts[0])
        if key.isEmpty || key.hasPrefix("#") { continue }
        settings[key] = trimmed(parts[1])
    }
    return settings
}

/// text without the white space around it
func trimmed(_ text: Substring) -> String {
    var rest = text
    while let first = rest.first, first.isWhitespace { rest.removeFirst() }
    while let last = rest.last, last.isWhitespace { rest.removeLast() }
    return String(rest)
}
