"""Video: files, live sources and the writer, around an :class:`edgesr.Upscaler`.

Holds ``pipeline`` (:func:`upscale_video`: decode → upscale → encode threads with the audio kept and a
playable partial file; :func:`stream`: live sources, newest frame first), ``sources`` (files, cameras,
RTSP / HTTP, GStreamer pipelines for Jetson, the latest-frame reader) and ``writer`` (the PyAV
encoder). Deployment side: may import the runtime face (``edgesr.upscaler``, errors, fileio,
overwrite, signals) and ``edgesr.data`` for image I/O; never the training side.
"""
from __future__ import annotations

from .pipeline import IncompleteVideoError, Stream, VideoResult, stream, upscale_video
from .sources import Frame, csi_pipeline, open_source, rtsp_pipeline, source_kind, usb_pipeline
from .writer import VideoWriter

__all__ = ["Frame", "IncompleteVideoError", "Stream", "VideoResult", "VideoWriter", "csi_pipeline", "open_source",
           "rtsp_pipeline", "source_kind", "stream", "upscale_video", "usb_pipeline"]
