import XCTest
import ConfigFile

final class ConfigFileTests: XCTestCase {
    func testKeysAndValues() {
        let text = "name = demo\n# the port the server listens on\nport=8080\n\n"
        XCTAssertEqual(parseSettings(text), ["name": "demo", "port": "8080"])
    }
}
