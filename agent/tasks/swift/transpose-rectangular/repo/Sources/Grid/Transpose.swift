/// Rows become columns: [[1, 2, 3], [4, 5, 6]] -> [[1, 4], [2, 5], [3, 6]]. All rows have the same length.
public func transpose(_ matrix: [[Int]]) -> [[Int]] {
    var result: [[Int]] = []
    for column in 0..<matrix.count {
        var row: [Int] = []
        for index in 0..<matrix.count {
            row.append(matrix[index][column])
        }
        result.append(row)
    }
    return result
}
