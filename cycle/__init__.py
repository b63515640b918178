"""The cycle: new logs in, candidate adapters trained and gated on validation sessions, better ones promoted."""
