import XCTest
import Grid

final class GridTests: XCTestCase {
    func testSquare() {
        XCTAssertEqual(transpose([[1, 2], [3, 4]]), [[1, 3], [2, 4]])
    }
}
