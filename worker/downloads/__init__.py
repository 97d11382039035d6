"""``confrec recordings download``: recordings to files, with links fresh from Telnyx."""
