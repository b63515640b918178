use task::is_leap;

#[test]
fn centuries() {
    assert!(!is_leap(1900));
    assert!(is_leap(2000));
}

#[test]
fn plain() {
    assert!(is_leap(2024));
    assert!(!is_leap(2023));
}
