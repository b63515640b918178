def median(values):
    """The middle value of a list of numbers."""
    ordered = sorted(values)
    return ordered[len(ordered) // 2]
