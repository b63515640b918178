/// A duration in seconds as a player shows it: 754 -> "12:34", 3725 -> "1:02:05" (hours only when there are any).
public func formatDuration(_ totalSeconds: Int) -> String {
    let hours = totalSeconds / 3600
    let minutes = totalSeconds % 3600 / 60
    let seconds = totalSeconds % 60
    if hours > 0 {
        return "\(hours):\(twoDigits(minutes)):\(twoDigits(seconds))"
    }
    return "\(minutes):\(twoDigits(seconds))"
}

/// n (0 to 59) with a leading zero below 10
func twoDigits(_ n: Int) -> String {
    return n < 10 ? "0\(n)" : "\(n)"
}
