"""Frame sources: video files and image folders now; RTSP plugs into the same interface later."""
