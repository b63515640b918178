use task::dedupe;

#[test]
fn order() {
    assert_eq!(dedupe(&["b", "a", "b", "c", "a"]), vec!["b", "a", "c"]);
    assert_eq!(dedupe(&["z", "y", "z"]), vec!["z", "y"]);
}
