"""Batches from the shell: bulk files read and validated, enqueued, and followed to the end."""
