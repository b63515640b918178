"""Fit one LoRA adapter per specialist with TRL's SFTTrainer; export adapters for serving."""
