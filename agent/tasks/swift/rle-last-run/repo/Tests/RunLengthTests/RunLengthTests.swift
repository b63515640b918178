import XCTest
import RunLength

final class RunLengthTests: XCTestCase {
    func testEmptyText() {
        XCTAssertEqual(encode(""), "")
    }
}
