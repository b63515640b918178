/// items cut into vectors of `size` elements.
pub fn chunks(items: &[i32], size: usize) -> Vec<Vec<i32>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + size <= items.len() {
        out.push(items[i..i + size].to_vec());
        i += size;
    }
    out
}
