def chunks(items, size):
    """items cut into lists of `size` elements."""
    return [items[i:i + size] for i in range(0, len(items), size)]
