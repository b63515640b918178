use std::collections::HashSet;

/// items without repeats.
pub fn dedupe(items: &[&str]) -> Vec<String> {
    let mut seen = HashSet::new();
    items.iter().filter(|s| seen.insert(**s)).map(|s| s.to_string()).collect()
}
