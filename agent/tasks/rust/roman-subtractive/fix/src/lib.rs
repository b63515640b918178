const NUMERALS: &[(u32, &str)] = &[
    (1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"), (50, "L"), (40, "XL"),
    (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"),
];

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
