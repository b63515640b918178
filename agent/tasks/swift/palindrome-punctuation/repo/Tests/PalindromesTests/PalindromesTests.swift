import XCTest
import Palindromes

final class PalindromesTests: XCTestCase {
    func testSingleWords() {
        XCTAssertTrue(isPalindrome("racecar"))
        XCTAssertFalse(isPalindrome("hello"))
    }
}
