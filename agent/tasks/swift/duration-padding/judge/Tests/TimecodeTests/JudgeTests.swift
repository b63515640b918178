import XCTest
import Timecode

final class JudgeTests: XCTestCase {
    func testSecondsHaveTwoDigits() {
        XCTAssertEqual(formatDuration(65), "1:05")
        XCTAssertEqual(formatDuration(5), "0:05")
        XCTAssertEqual(formatDuration(600), "10:00")
    }

    func testWithHoursMinutesHaveTwoDigitsToo() {
        XCTAssertEqual(formatDuration(3725), "1:02:05")
        XCTAssertEqual(formatDuration(3600), "1:00:00")
        XCTAssertEqual(formatDuration(36_000 + 59 * 60 + 59), "10:59:59")
    }
}
