use task::fahrenheit_to_celsius;

fn close(a: f64, b: f64) -> bool { (a - b).abs() < 1e-9 }

#[test]
fn points() {
    assert!(close(fahrenheit_to_celsius(212.0), 100.0));
    assert!(close(fahrenheit_to_celsius(32.0), 0.0));
    assert!(close(fahrenheit_to_celsius(-40.0), -40.0));
}
