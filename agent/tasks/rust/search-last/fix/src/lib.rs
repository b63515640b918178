/// Index of target in the sorted slice items.
pub fn find(items: &[i32], target: i32) -> Option<usize> {
    let (mut lo, mut hi) = (0usize, items.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        if items[mid] == target {
            return Some(mid);
        }
        if items[mid] < target { lo = mid + 1; } else { hi = mid; }
    }
    None
}
