"""_paging: private implementation package."""
