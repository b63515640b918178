/// Run-length encoding: each run of a repeated character becomes the character and its count.
/// encode("aaabcc") == "a3b1c2"
public func encode(_ text: String) -> String {
    var result = ""
    var current: Character?
    var count = 0
    for character in text {
        if character == current {
            count += 1
        } else {
            if let previous = current {
                result += "\(previous)\(count)"
            }
            current = character
            count = 1
        }
    }
    return result
}
