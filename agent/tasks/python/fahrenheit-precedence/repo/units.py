def fahrenheit_to_celsius(f):
    """Degrees Fahrenheit in degrees Celsius."""
    return f - 32 * 5 / 9
