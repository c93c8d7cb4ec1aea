"""Publishing a trained model: the Hugging Face Hub, Ollama and LM Studio."""
