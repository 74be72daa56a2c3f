"""Markdown output of the demo and the study."""
from typing import List


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
