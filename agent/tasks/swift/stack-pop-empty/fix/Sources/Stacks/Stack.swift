/// A last-in, first-out stack.
public struct Stack<Element> {
    private var items: [Element] = []

    public init() {}

    public var isEmpty: Bool { items.isEmpty }
    public var count: Int { items.count }

    public mutating func push(_ item: Element) {
        items.append(item)
    }

    /// The top item, removed from the stack; nil when the stack is empty.
    public mutating func pop() -> Element? {
        return items.popLast()
    }

    /// The top item, left on the stack; nil when the stack is empty.
    public func peek() -> Element? {
        return items.last
    }
}
