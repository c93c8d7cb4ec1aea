"""Model weights: local and embedded models, safetensors, chat templates, GGUF export and its check."""
