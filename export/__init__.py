"""Export: turn trained adapters into what people serve (PEFT, GGUF, Ollama, vLLM)."""
