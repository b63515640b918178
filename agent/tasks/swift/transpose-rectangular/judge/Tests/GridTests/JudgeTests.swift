import XCTest
import Grid

final class JudgeTests: XCTestCase {
    func testWide() {
        XCTAssertEqual(transpose([[1, 2, 3], [4, 5, 6]]), [[1, 4], [2, 5], [3, 6]])
        XCTAssertEqual(transpose([[1, 2, 3]]), [[1], [2], [3]])
    }

    func testTall() {
        XCTAssertEqual(transpose([[1, 2], [3, 4], [5, 6]]), [[1, 3, 5], [2, 4, 6]])
    }

    func testEmptyAndSquare() {
        XCTAssertEqual(transpose([]), [])
        XCTAssertEqual(transpose([[7]]), [[7]])
        XCTAssertEqual(transpose([[1, 2, 3], [4, 5, 6], [7, 8, 9]]), [[1, 4, 7], [2, 5, 8], [3, 6, 9]])
    }
}
