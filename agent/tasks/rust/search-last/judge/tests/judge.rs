use task::find;

#[test]
fn every_position() {
    let items = [1, 3, 5, 7, 9];
    for (i, x) in items.iter().enumerate() {
        assert_eq!(find(&items, *x), Some(i));
    }
}

#[test]
fn missing() {
    assert_eq!(find(&[1, 3, 5], 4), None);
    assert_eq!(find(&[], 4), None);
}
