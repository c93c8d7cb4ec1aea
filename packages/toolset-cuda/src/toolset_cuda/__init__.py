"""toolset-cuda: SFT and KTO trainers (Unsloth + TRL on CUDA; transformers + PEFT + TRL elsewhere)."""
