import XCTest
import Rotation

final class RotationTests: XCTestCase {
    func testLeft() {
        XCTAssertEqual([1, 2, 3, 4].rotated(by: 1), [2, 3, 4, 1])
        XCTAssertEqual([1, 2, 3, 4].rotated(by: 0), [1, 2, 3, 4])
    }
}
