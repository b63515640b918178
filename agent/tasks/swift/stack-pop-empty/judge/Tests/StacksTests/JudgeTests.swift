import XCTest
import Stacks

final class JudgeTests: XCTestCase {
    func testPoppingAnEmptyStackGivesNil() {
        var stack = Stack<String>()
        XCTAssertNil(stack.pop())
        XCTAssertNil(stack.peek())
        XCTAssertTrue(stack.isEmpty)
    }

    func testPoppingPastTheBottom() {
        var stack = Stack<Int>()
        stack.push(1)
        stack.push(2)
        XCTAssertEqual(stack.pop(), 2)
        XCTAssertEqual(stack.pop(), 1)
        XCTAssertNil(stack.pop())
        stack.push(3)
        XCTAssertEqual(stack.pop(), 3)
    }
}
