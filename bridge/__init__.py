"""The media relay (SFU): hubs, up-tracks, down-tracks, keyframe requests, the patch matrix.

Knows nothing of SQL, Socket.IO or HTTP.
"""
