"""The Socket.IO front door: token checks, join/leave, SDP exchange, presence, commands."""
