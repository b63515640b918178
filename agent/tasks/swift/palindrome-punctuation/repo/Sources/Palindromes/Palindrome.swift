/// Whether text reads the same backwards as forwards, ignoring case, spaces and punctuation:
/// "Was it a car or a cat I saw?" is a palindrome.
public func isPalindrome(_ text: String) -> Bool {
    return text == String(text.reversed())
}
