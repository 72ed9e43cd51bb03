"""ttdf: the TT-DF (TikTok-DeepFake) dataset manager."""
from ttdf.errors import TTDFError
from ttdf.records import VideoFilter, VideoRecord
from ttdf.taxonomy import Taxonomy, load_taxonomy

__version__ = "0.1.0"
__all__ = ["TTDFError", "Taxonomy", "VideoFilter", "VideoRecord", "load_taxonomy", "__version__"]
