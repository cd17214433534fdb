"""check_layers.py must refuse what it is there to refuse."""
import pathlib
import subprocess
import sys

CHECK = pathlib.Path(__file__).with_name("check_layers.py")


def tree(tmp_path, files):
    for layer in ["core", "http", "policy", "proxy", "app"]:
        (tmp_path / layer).mkdir()
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return subprocess.run([sys.executable, CHECK, tmp_path], capture_output=True, text=True)


def test_downward_includes_pass(tmp_path):
    result = tree(tmp_path, {"core/units.hpp": "", "policy/policy.hpp": '#include "units.hpp"\n'})
    assert result.returncode == 0, result.stdout


def test_an_upward_include_is_named(tmp_path):
    result = tree(tmp_path, {"app/config.hpp": "", "policy/policy.cpp": '#include "config.hpp"\n'})
    assert result.returncode == 1
    assert "policy/policy.cpp: includes config.hpp from src/app, above src/policy" in result.stdout


def test_a_cycle_inside_a_layer_is_named(tmp_path):
    result = tree(tmp_path, {
        "policy/policy.hpp": '#include "label_scope.hpp"\n',
        "policy/label_scope.hpp": "",
        "policy/label_scope.cpp": '#include "label_scope.hpp"\n#include "policy.hpp"\n',
    })
    assert result.returncode == 1
    assert "include cycle: label_scope -> policy -> label_scope" in result.stdout


def test_a_file_outside_the_layers_is_refused(tmp_path):
    result = tree(tmp_path, {"stray.cpp": ""})
    assert result.returncode != 0
    assert "belongs in a layer folder" in result.stdout + result.stderr


def test_the_sources_keep_the_rule():
    src = pathlib.Path(__file__).resolve().parents[2] / "src"
    result = subprocess.run([sys.executable, CHECK, src], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
