"""_push: private implementation package."""
