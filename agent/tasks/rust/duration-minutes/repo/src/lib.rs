/// "1h30m10s" in seconds.
pub fn parse_duration(text: &str) -> u64 {
    let mut total = 0;
    let mut n = 0;
    for c in text.chars() {
        match c {
            '0'..='9' => n = n * 10 + c.to_digit(10).unwrap() as u64,
            'h' | 'm' => { total += n * 3600; n = 0; }
            's' => { total += n; n = 0; }
            _ => n = 0,
        }
    }
    total
}
