use task::median;

#[test]
fn even() { assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5); }

#[test]
fn odd() { assert_eq!(median(&[5.0, 1.0, 3.0]), 3.0); }
