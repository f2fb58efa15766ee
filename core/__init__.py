"""The domain core: values every part shares, and the database base they plug into.

Nothing here imports another part of the project; every other package may import it.
"""
