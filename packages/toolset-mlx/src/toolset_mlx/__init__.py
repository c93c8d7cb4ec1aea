"""toolset-mlx: MLX LoRA training through mlx-lm for Apple Silicon."""
