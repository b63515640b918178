use task::parse_duration;

#[test]
fn units() {
    assert_eq!(parse_duration("1h30m"), 5400);
    assert_eq!(parse_duration("2m5s"), 125);
    assert_eq!(parse_duration("3h"), 10800);
}
