import subprocess
import sys

import numpy as np
import pytest

from stylecam.errors import UserError
from stylecam.modelfile import load_model
from stylecam.styles import bundled_styles, resolve_style
from stylecam.stylizer import Stylizer


def test_the_two_first_styles_ship():
    names = {s.name for s in bundled_styles() if s.quality == "full"}
    assert {"starry-night", "great-wave"} <= names


@pytest.mark.parametrize("name", ["starry-night", "great-wave"])
def test_bundled_style_loads_by_name_and_stylizes(name):
    net = load_model(resolve_style(name))
    meta = net.metadata
    assert meta["name"] == name and meta["title"] and meta["artist"] and meta["train_size"] > 0
    photo = np.zeros((48, 64, 3), np.uint8)
    photo[:, 32:] = (200, 180, 40)
    out = Stylizer(net).stylize(photo)
    # A trained style repaints: the output is far from the input and not flat.
    assert np.abs(out.astype(int) - photo).mean() > 10 and out.std() > 5


def test_unknown_style_names_the_bundled_ones():
    with pytest.raises(UserError, match="starry-night"):
        resolve_style("no-such-style")
    with pytest.raises(UserError, match="not found"):
        resolve_style("missing/model.keras")


def test_styles_command_lists_paintings():
    out = subprocess.run([sys.executable, "-m", "stylecam.cli", "styles"], capture_output=True,
                         text=True, check=True).stdout
    assert "starry-night" in out and "The Starry Night" in out and "Hokusai" in out
