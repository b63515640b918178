import XCTest
import Palindromes

final class JudgeTests: XCTestCase {
    func testCaseSpacesAndPunctuationAreIgnored() {
        XCTAssertTrue(isPalindrome("Was it a car or a cat I saw?"))
        XCTAssertTrue(isPalindrome("A man, a plan, a canal: Panama"))
        XCTAssertTrue(isPalindrome("No 'x' in Nixon"))
        XCTAssertTrue(isPalindrome("Madam"))
    }

    func testOthersAreNot() {
        XCTAssertFalse(isPalindrome("Hello, world"))
        XCTAssertFalse(isPalindrome("ab"))
        XCTAssertTrue(isPalindrome("12 3 21"))
        XCTAssertTrue(isPalindrome(""))
    }
}
