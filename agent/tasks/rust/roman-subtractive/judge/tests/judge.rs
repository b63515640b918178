use task::to_roman;

#[test]
fn subtractive() {
    assert_eq!(to_roman(4), "IV");
    assert_eq!(to_roman(9), "IX");
    assert_eq!(to_roman(1994), "MCMXCIV");
}

#[test]
fn additive() { assert_eq!(to_roman(2026), "MMXXVI"); }
