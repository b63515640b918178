use task::chunks;

#[test]
fn remainder() { assert_eq!(chunks(&[1, 2, 3, 4, 5], 2), vec![vec![1, 2], vec![3, 4], vec![5]]); }

#[test]
fn exact() { assert_eq!(chunks(&[1, 2, 3, 4], 2), vec![vec![1, 2], vec![3, 4]]); }

#[test]
fn empty() { assert!(chunks(&[], 3).is_empty()); }
