"""Plugins that ship with toolset-core, registered exactly like external ones."""
