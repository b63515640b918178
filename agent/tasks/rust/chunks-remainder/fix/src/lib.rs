/// items cut into vectors of `size` elements.
pub fn chunks(items: &[i32], size: usize) -> Vec<Vec<i32>> {
    items.chunks(size).map(|c| c.to_vec()).collect()
}
