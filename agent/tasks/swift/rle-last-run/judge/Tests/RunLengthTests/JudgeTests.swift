import XCTest
import RunLength

final class JudgeTests: XCTestCase {
    func testTheLastRunIsKept() {
        XCTAssertEqual(encode("aaabcc"), "a3b1c2")
        XCTAssertEqual(encode("x"), "x1")
    }

    func testRunsOfTheSameCharacterApart() {
        XCTAssertEqual(encode("abba"), "a1b2a1")
        XCTAssertEqual(encode("zzzzzzzzzzzz"), "z12")
    }
}
