import XCTest
import Timecode

final class TimecodeTests: XCTestCase {
    func testMinutesAndSeconds() {
        XCTAssertEqual(formatDuration(754), "12:34")
    }
}
