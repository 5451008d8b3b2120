"""MkDocs hooks (see ``hooks:`` in mkdocs.yml): fill in generated parts, publish benchmark plots."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

_SPEC = importlib.util.spec_from_file_location("symhess_docs_generate", Path(__file__).with_name("generate.py"))
generate = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(generate)


def on_files(files, config):
    """The plots of ``python benchmarks/run.py`` become files of the site, beside the performance page."""
    for plot in generate.benchmark_plots():
        files.append(File.generated(config, f"{generate.PLOTS_URI}/{plot.name}", abs_src_path=str(plot)))
    return files


def on_page_markdown(markdown, page, config, files):
    try:
        return generate.expand(markdown, page.file.src_uri)
    except generate.GenerationError as error:
        raise PluginError(str(error)) from error
