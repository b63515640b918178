def dedupe(items):
    """items without repeats."""
    return list(dict.fromkeys(items))
