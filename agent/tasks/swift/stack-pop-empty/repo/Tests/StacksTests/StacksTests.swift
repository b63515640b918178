import XCTest
import Stacks

final class StacksTests: XCTestCase {
    func testLastInFirstOut() {
        var stack = Stack<Int>()
        stack.push(1)
        stack.push(2)
        XCTAssertEqual(stack.pop(), 2)
        XCTAssertEqual(stack.peek(), 1)
        XCTAssertEqual(stack.count, 1)
    }
}
