"""Agent logs in, one Hugging Face dataset per specialist out."""
