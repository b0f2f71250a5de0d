"""``cnnkit ops``: the lecture's operators on a picture."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

EXAMPLES = """
\b
Examples:
  cnnkit ops demo                                 scikit-image's camera man -> ops-demo.png
  cnnkit ops demo photo.jpg --out filters.png --size 320
"""

ops_app = typer.Typer(
    help="The lecture's operators: convolution, filters, pooling.", no_args_is_help=True, rich_markup_mode=None
)


def register(app: typer.Typer) -> None:
    app.add_typer(ops_app, name="ops")


@ops_app.command("demo", help="Write a PNG of an image through Sobel, Laplacian, box and Gaussian "
                 "filters and one conv -> bias -> ReLU -> max-pool stage.\n" + EXAMPLES)
def demo(
    image: Optional[Path] = typer.Argument(None, help="Any image file (default: scikit-image's camera man)."),
    out: Path = typer.Option(Path("ops-demo.png"), help="The PNG to write."),
    size: int = typer.Option(256, help="The image is resized and centre-cropped to size x size pixels."),
) -> None:
    from cnnkit.data.images import image_to_tensor, load_image, resize_center_crop
    from cnnkit.errors import ConfigError, OutputError
    from cnnkit.ops.demo import filter_demo
    from cnnkit.viz import plot_image_grid

    if not 16 <= size <= 2048:
        raise ConfigError(f"--size must be between 16 and 2048 pixels, got {size}")
    if not out.parent.is_dir() or out.is_dir():
        raise OutputError(f"cannot write {out}: {'it is a directory' if out.is_dir() else 'no such directory'}")
    if image is None:
        from PIL import Image
        from skimage import data

        picture = Image.fromarray(data.camera())
    else:
        picture = load_image(image, mode="L")
    tensor = image_to_tensor(resize_center_crop(picture.convert("L"), size)).float() / 255  # (1, S, S)
    tiles, captions = filter_demo(tensor)
    title = f"{image.name if image else 'camera (scikit-image)'}: the lecture's filters and one CNN stage"
    typer.echo(str(plot_image_grid(tiles.numpy(), captions, out, ncols=7, title=title).resolve()))
