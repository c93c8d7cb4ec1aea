"""toolset-schemas: tool sets as JSON Schema, validation rules and property tests."""
