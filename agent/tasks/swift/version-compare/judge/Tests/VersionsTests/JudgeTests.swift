import XCTest
import Versions

final class JudgeTests: XCTestCase {
    func testNumbersCompareAsNumbers() {
        XCTAssertLessThan(Version(major: 1, minor: 9, patch: 0), Version(major: 1, minor: 10, patch: 0))
        XCTAssertLessThan(Version(major: 1, minor: 99, patch: 99), Version(major: 2, minor: 0, patch: 0))
        XCTAssertLessThan(Version(major: 9, minor: 0, patch: 0), Version(major: 10, minor: 0, patch: 0))
        XCTAssertFalse(Version(major: 1, minor: 2, patch: 3) < Version(major: 1, minor: 2, patch: 3))
    }

    func testLatest() {
        XCTAssertEqual(latest(["1.9.0", "1.10.0", "1.2.11"])?.description, "1.10.0")
        XCTAssertEqual(latest(["0.9.9", "beta", "0.10.1"])?.description, "0.10.1")
        XCTAssertNil(latest(["beta"]))
    }

    func testSorting() {
        let sorted = ["2.0.0", "1.10.0", "1.9.3", "1.9.10"].compactMap { Version($0) }.sorted()
        XCTAssertEqual(sorted.map { $0.description }, ["1.9.3", "1.9.10", "1.10.0", "2.0.0"])
    }
}
