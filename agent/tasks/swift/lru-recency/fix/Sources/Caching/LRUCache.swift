/// A cache holding at most `capacity` values: adding one more evicts the least recently used one. Reading a value
/// with get(_:) and writing it with set(_:_:) both count as using it.
public struct LRUCache<Key: Hashable, Value> {
    public let capacity: Int
    private var values: [Key: Value] = [:]
    private var order: [Key] = []  // least recently used first

    public init(capacity: Int) {
        precondition(capacity > 0, "capacity must be at least 1")
        self.capacity = capacity
    }

    public var count: Int { values.count }

    /// The value for key, now the most recently used; nil when the cache does not hold it.
    public mutating func get(_ key: Key) -> Value? {
        guard let value = values[key] else { return nil }
        touch(key)
        return value
    }

    /// Stores value for key, evicting the least recently used key when the cache is full.
    public mutating func set(_ key: Key, _ value: Value) {
        if values[key] == nil && values.count == capacity {
            let oldest = order.removeFirst()
            values[oldest] = nil
        }
        values[key] = value
        touch(key)
    }

    private mutating func touch(_ key: Key) {
        order.removeAll { $0 == key }
        order.append(key)
    }
}
