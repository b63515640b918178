use std::collections::HashMap;

/// How often each word occurs in text.
pub fn word_counts(text: &str) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for w in text.split(|c: char| !c.is_alphanumeric() && c != '\'') {
        if !w.is_empty() {
            *counts.entry(w.to_lowercase()).or_insert(0) += 1;
        }
    }
    counts
}
