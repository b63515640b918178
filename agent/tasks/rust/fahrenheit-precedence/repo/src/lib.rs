/// Degrees Fahrenheit in degrees Celsius.
pub fn fahrenheit_to_celsius(f: f64) -> f64 {
    f - 32.0 * 5.0 / 9.0
}
