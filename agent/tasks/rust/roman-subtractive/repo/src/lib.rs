const NUMERALS: &[(u32, &str)] = &[(1000, "M"), (500, "D"), (100, "C"), (50, "L"), (10, "X"), (5, "V"), (1, "I")];

/// n (1..3999) in Roman numerals.
pub fn to_roman(mut n: u32) -> String {
    let mut out = String::new();
    for &(value, letters) in NUMERALS {
        while n >= value {
            out.push_str(letters);
            n -= value;
        }
    }
    out
}
