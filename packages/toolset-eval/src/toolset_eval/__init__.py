"""toolset-eval: inference backends and schema-exact evaluation of tool calls."""
