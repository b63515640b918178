import XCTest
import ConfigFile

final class JudgeTests: XCTestCase {
    func testValuesMayContainEqualsSigns() {
        let settings = parseSettings("url = http://example.test/?a=1&b=2\ntoken = abc==\n")
        XCTAssertEqual(settings, ["url": "http://example.test/?a=1&b=2", "token": "abc=="])
    }

    func testEmptyValuesAreKept() {
        XCTAssertEqual(parseSettings("proxy =\nname = demo"), ["proxy": "", "name": "demo"])
    }

    func testCommentsAndLinesWithoutEqualsAreSkipped() {
        XCTAssertEqual(parseSettings("# a = b\njust words\n = orphan\nkey = value"), ["key": "value"])
    }
}
