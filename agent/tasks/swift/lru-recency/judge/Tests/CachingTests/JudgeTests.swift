import XCTest
import Caching

final class JudgeTests: XCTestCase {
    func testReadingAValueKeepsItInTheCache() {
        var cache = LRUCache<String, Int>(capacity: 2)
        cache.set("a", 1)
        cache.set("b", 2)
        XCTAssertEqual(cache.get("a"), 1)
        cache.set("c", 3)  // b is now the least recently used
        XCTAssertNil(cache.get("b"))
        XCTAssertEqual(cache.get("a"), 1)
        XCTAssertEqual(cache.get("c"), 3)
    }

    func testOverwritingAndMissingKeys() {
        var cache = LRUCache<Int, String>(capacity: 2)
        cache.set(1, "one")
        cache.set(2, "two")
        cache.set(1, "uno")  // 2 is now the least recently used
        XCTAssertNil(cache.get(3))
        cache.set(3, "three")
        XCTAssertNil(cache.get(2))
        XCTAssertEqual(cache.get(1), "uno")
        XCTAssertEqual(cache.count, 2)
    }
}
