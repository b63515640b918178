/// value limited to the range low..=high.
pub fn clamp(value: i64, low: i64, high: i64) -> i64 {
    if value < low { low } else if value > high { high } else { value }
}
