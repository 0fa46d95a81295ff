"""_cli: private implementation package."""
