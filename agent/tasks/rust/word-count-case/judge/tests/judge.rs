use task::word_counts;

#[test]
fn case_and_punctuation() {
    let counts = word_counts("The cat saw the dog. The end, the END");
    assert_eq!(counts["the"], 4);
    assert_eq!(counts["end"], 2);
    assert!(!counts.contains_key("The"));
}
