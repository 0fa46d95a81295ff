"""_io: private implementation package."""
