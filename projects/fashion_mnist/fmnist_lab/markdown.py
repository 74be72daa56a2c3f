"""Markdown output of the demo and the studies."""
import os
import os.path as osp
from typing import List

from mmtec.checkpoint import write_atomically

# what follows this line in a report is written by hand and kept when the
# study rewrites the report from its records
NOTES_MARKER = '<!-- notes: kept when the study regenerates this file -->'


def markdown_table(header: List[str], rows: List[List]) -> str:
    """A GitHub-markdown table.

    Example:
        >>> print(markdown_table(['a', 'b'], [[1, 2]]))
        | a | b |
        | --- | --- |
        | 1 | 2 |
    """
    lines = ['| ' + ' | '.join(header) + ' |',
             '| ' + ' | '.join('---' for _ in header) + ' |']
    lines += ['| ' + ' | '.join(str(c) for c in row) + ' |' for row in rows]
    return '\n'.join(lines)


def write_report(path: str, md: str) -> str:
    """Write a generated report atomically, keeping its hand-written notes.

    Args:
        path (str): The markdown file.
        md (str): The generated text.

    Returns:
        str: What was written: ``md``, then everything from
        ``NOTES_MARKER`` on in the file's previous version, if it had one.

    Example:
        >>> import tempfile
        >>> path = osp.join(tempfile.mkdtemp(), 'r.md')
        >>> _ = write_report(path, '# old\\n\\n' + NOTES_MARKER + '\\nseen\\n')
        >>> print(write_report(path, '# new\\n'))
        # new
        <BLANKLINE>
        <!-- notes: kept when the study regenerates this file -->
        seen
        <BLANKLINE>
    """
    if osp.isfile(path):
        with open(path) as f:
            old = f.read()
        if NOTES_MARKER in old:
            md += '\n' + old[old.index(NOTES_MARKER):]
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    write_atomically(path, md)
    return md
