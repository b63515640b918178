import XCTest
import Rotation

final class JudgeTests: XCTestCase {
    func testNegativeStepsShiftRight() {
        XCTAssertEqual([1, 2, 3, 4].rotated(by: -1), [4, 1, 2, 3])
        XCTAssertEqual(["a", "b", "c"].rotated(by: -2), ["b", "c", "a"])
    }

    func testStepsPastTheLengthWrap() {
        XCTAssertEqual([1, 2, 3, 4].rotated(by: 6), [3, 4, 1, 2])
        XCTAssertEqual([1, 2, 3, 4].rotated(by: -5), [4, 1, 2, 3])
        XCTAssertEqual([1, 2, 3, 4].rotated(by: -4), [1, 2, 3, 4])
    }

    func testEmpty() {
        XCTAssertEqual([Int]().rotated(by: -3), [])
    }
}
