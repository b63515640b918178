def slugify(text):
    """Lower-case words joined by dashes, for URLs."""
    return "-".join(text.lower().split())
