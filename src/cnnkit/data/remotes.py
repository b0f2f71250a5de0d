"""Where each named dataset can be downloaded, and the digests that prove a copy intact.

The official address comes first, then mirrors, because the originals move or die
(yann.lecun.com has answered 403 to scripts for years; Caltech-101 moved from
vision.caltech.edu to data.caltech.edu in 2022). Digests are the published ones:

- MNIST (LeCun et al., 1998): SHA-256 from tensorflow/datasets
  ``tensorflow_datasets/url_checksums/mnist.txt`` (its cvdf mirror; the same bytes as the
  original, as torchvision's single MD5 per file for both addresses shows).
- Fashion-MNIST (Xiao et al., 2017): SHA-256 from tensorflow/datasets
  ``url_checksums/fashion_mnist.txt``. Debian's ``dataset-fashion-mnist`` re-gzips the same
  data without the file name in the gzip header, so its ``.gz`` files have other digests;
  local files are checked by parsing, never by digest, so both work.
- KMNIST (Clanuwat et al., 2018): SHA-256 from tensorflow/datasets ``url_checksums/kmnist.txt``.
- Caltech-101 (Fei-Fei et al., 2004): the official ``caltech-101.zip`` has no published
  SHA-256; its MD5 is the one torchvision checks. fast.ai's mirror serves the original
  ``101_ObjectCategories.tar.gz``, whose SHA-256 is in tensorflow/datasets
  ``url_checksums/caltech101.txt`` and torchvision's prototype datasets.
"""

from __future__ import annotations

from cnnkit.data.fetch import Remote

__all__ = ["CALTECH101_REMOTES", "IDX_FILES", "IDX_REMOTES"]

# Logical IDX file -> the four files of each split, named as the original sites name them.
IDX_FILES: dict[str, dict[str, str]] = {
    "train": {"images": "train-images-idx3-ubyte", "labels": "train-labels-idx1-ubyte"},
    "test": {"images": "t10k-images-idx3-ubyte", "labels": "t10k-labels-idx1-ubyte"},
}

_MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
_FASHION_SHA256 = {
    "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
}
_KMNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4",
    "train-labels-idx1-ubyte.gz": "e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17",
    "t10k-images-idx3-ubyte.gz": "edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5",
    "t10k-labels-idx1-ubyte.gz": "20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c",
}
_BASES = {
    "mnist": (
        "http://yann.lecun.com/exdb/mnist/",
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    "fashion-mnist": (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
    "kmnist": (
        "http://codh.rois.ac.jp/kmnist/dataset/kmnist/",
        "https://storage.googleapis.com/kuzushiji-mnist/",
    ),
}
_SHA256 = {"mnist": _MNIST_SHA256, "fashion-mnist": _FASHION_SHA256, "kmnist": _KMNIST_SHA256}

# dataset -> compressed file name -> addresses to try, in order.
IDX_REMOTES: dict[str, dict[str, tuple[Remote, ...]]] = {
    name: {
        filename: tuple(Remote(base + filename, sha256=digest) for base in _BASES[name])
        for filename, digest in _SHA256[name].items()
    }
    for name in _BASES
}

CALTECH101_REMOTES: tuple[Remote, ...] = (
    Remote(
        "https://data.caltech.edu/records/mzrjq-6wc02/files/caltech-101.zip",
        sha256=None,  # none published; torchvision's MD5 of the official zip instead
        md5="3138e1922a9193bfa496528edbbc45d0",
    ),
    Remote(
        "https://s3.amazonaws.com/fast-ai-imageclas/caltech_101.tgz",
        sha256="af6ece2f339791ca20f855943d8b55dd60892c0a25105fcd631ee3d6430f9926",
    ),
)
