extension Array {
    /// The elements shifted left by `steps` places, wrapping around: [1, 2, 3, 4].rotated(by: 1) == [2, 3, 4, 1].
    /// Negative steps shift right: [1, 2, 3, 4].rotated(by: -1) == [4, 1, 2, 3].
    public func rotated(by steps: Int) -> [Element] {
        guard !isEmpty else { return self }
        let shift = steps % count
        return Array(self[shift...] + self[..<shift])
    }
}
