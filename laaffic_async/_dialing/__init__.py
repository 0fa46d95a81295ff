"""_dialing: private implementation package."""
