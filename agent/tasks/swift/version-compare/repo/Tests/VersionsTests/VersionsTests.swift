import XCTest
import Versions

final class VersionsTests: XCTestCase {
    func testParsing() {
        XCTAssertEqual(Version("1.2.3"), Version(major: 1, minor: 2, patch: 3))
        XCTAssertEqual(Version("1.2.3")?.description, "1.2.3")
        XCTAssertNil(Version("1.2"))
        XCTAssertNil(Version("1.x.3"))
    }

    func testPatchOrder() {
        XCTAssertLessThan(Version(major: 1, minor: 2, patch: 3), Version(major: 1, minor: 2, patch: 4))
    }
}
