"""Write the README's model-zoo table from the OpenMMLab metafiles.

Usage:
    python tools/model_zoo_table.py            # print the table
    python tools/model_zoo_table.py --update README.md
"""
import argparse
import os.path as osp
import re
import sys

sys.path.append(osp.dirname(osp.abspath(__file__)))  # tools/, when imported
import stack_check  # noqa: E402,F401  (a hint, not a traceback)

# isort: split

from modelindex.load_model_index import load

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
START, END = '<!-- model-zoo:start -->', '<!-- model-zoo:end -->'


def _pflops(value) -> str:
    return 'n/a' if value is None else f'{value:,.0f}'


def compute(data: dict) -> str:
    """TEC's pretraining compute and its base model's, from the metafile."""
    tec = data.get('Pretraining PFLOPs (estimate)')
    base = data.get('Base Model Pretraining PFLOPs (estimate)')
    if tec is None:
        return 'n/a'
    return f'{_pflops(tec)} + {_pflops(base)}'


def table(model_index: str = osp.join(ROOT, 'model-index.yml')) -> str:
    index = load(model_index)
    index.build_models_with_collections()
    rows = [
        '| model (`mmpretrain.get_model` name) | base model | TEC epochs | '
        'top-1 (paper) | compute, PFLOPs (estimate): TEC + base model | '
        'pretraining config | fine-tuning config | weights |',
        '| --- | --- | --- | --- | --- | --- | --- | --- |'
    ]
    for m in index.models:
        meta = m.metadata
        data = meta.data if hasattr(meta, 'data') else meta
        top1 = m.results[0].metrics['Top 1 Accuracy']
        pre = data.get('Pretraining Config') or data.get('Pretraining_Config')
        rows.append(
            f'| `{m.name}` | {data.get("Base Model")} | {meta.epochs} | '
            f'{top1} | {compute(data)} | [{osp.basename(pre)}]({pre}) | '
            f'[{osp.basename(m.config)}]({m.config}) | '
            f'[{osp.basename(m.weights)}]({m.weights}) |')
    return '\n'.join(rows) + '\n'


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--update', help='markdown file with the markers '
                        f'{START} and {END}')
    args = parser.parse_args()
    text = table()
    if not args.update:
        print(text, end='')
        return
    doc = open(args.update).read()
    if START not in doc or END not in doc:
        raise SystemExit(f'{args.update} has no {START} ... {END} markers.')
    doc = re.sub(
        re.escape(START) + '.*?' + re.escape(END),
        lambda _: f'{START}\n{text}{END}', doc, flags=re.S)
    with open(args.update, 'w') as f:
        f.write(doc)


if __name__ == '__main__':
    main()
