"""Score adapters against their base on held-out sessions."""
