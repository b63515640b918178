import XCTest
import Caching

final class CachingTests: XCTestCase {
    func testTheOldestIsEvicted() {
        var cache = LRUCache<String, Int>(capacity: 2)
        cache.set("a", 1)
        cache.set("b", 2)
        cache.set("c", 3)
        XCTAssertEqual(cache.count, 2)
        XCTAssertNil(cache.get("a"))
        XCTAssertEqual(cache.get("c"), 3)
    }
}
