"""Recording forwarded media, the archive with case metadata, playback, export, audit."""
