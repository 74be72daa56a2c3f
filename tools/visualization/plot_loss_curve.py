"""Plot training losses from MMEngine's JSON logs to a PNG.

MMEngine writes one JSON record per logged iteration to
``<work_dir>/<timestamp>/vis_data/scalars.json`` (and the same records to
``<timestamp>.json``). Pass work dirs, timestamp folders or the JSON files
themselves; every run gets its own line per loss key. A resumed run (several
timestamp folders in one work dir) is joined along the iteration axis.

Example:
    python tools/visualization/plot_loss_curve.py work_dirs/demo/mae \
        work_dirs/demo/tec \
        --out projects/fashion_mnist/docs/loss_curves_demo.png
"""
import argparse
import glob
import json
import os
import os.path as osp
import sys
from typing import Dict, List

sys.path.append(osp.dirname(osp.dirname(osp.abspath(__file__))))  # tools/
import stack_check  # noqa: E402,F401  (a hint, not a traceback)

# isort: split


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('logs', nargs='+',
                        help='work dirs, timestamp dirs or json log files')
    parser.add_argument('--names', nargs='+', help='legend names per log')
    parser.add_argument('--keys', nargs='+',
                        help='scalars to plot (default: every key starting '
                        'with "loss")')
    parser.add_argument('--out', default='loss_curves.png')
    parser.add_argument('--logy', action='store_true', help='log y axis')
    parser.add_argument('--title', default='training loss')
    return parser.parse_args(argv)


def json_files(path: str) -> List[str]:
    """The JSON logs of one run, oldest first, one file per timestamp."""
    if osp.isfile(path):
        return [path]
    files = []
    for vis in sorted(glob.glob(osp.join(path, '**', 'vis_data'),
                                recursive=True)):
        # scalars.json and <timestamp>.json hold the same records
        scalars = osp.join(vis, 'scalars.json')
        others = sorted(f for f in glob.glob(osp.join(vis, '*.json'))
                        if f != scalars)
        if osp.isfile(scalars):
            files.append(scalars)
        elif others:
            files.append(others[0])
    if not files:
        raise FileNotFoundError(f'no MMEngine json log under {path}')
    return files


def read_scalars(files: List[str]) -> Dict[str, List[tuple]]:
    """``{key: [(iteration, value), ...]}`` of the training records."""
    series: Dict[str, Dict[int, float]] = {}
    for path in files:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                rec = json.loads(line)
                if 'iter' not in rec and 'step' not in rec:
                    continue
                step = int(rec.get('iter', rec.get('step')))
                for key, value in rec.items():
                    if isinstance(value, (int, float)):
                        # a resumed run logs later iterations: keyed by step
                        series.setdefault(key, {})[step] = float(value)
    return {k: sorted(v.items()) for k, v in series.items()}


def main(argv=None):
    args = parse_args(argv)
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    names = args.names or [osp.basename(osp.normpath(p)) for p in args.logs]
    if len(names) != len(args.logs):
        raise ValueError('--names needs one name per log')
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    plotted = 0
    for name, path in zip(names, args.logs):
        series = read_scalars(json_files(path))
        keys = args.keys or sorted(k for k in series if k.startswith('loss'))
        for key in keys:
            if key not in series:
                continue
            xs, ys = zip(*series[key])
            ax.plot(xs, ys, label=f'{name}: {key}', linewidth=1.2)
            plotted += 1
    if not plotted:
        raise ValueError('none of the keys was found in the logs')
    ax.set_xlabel('iteration')
    ax.set_ylabel('value')
    if args.logy:
        ax.set_yscale('log')
    ax.set_title(args.title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    fig.savefig(args.out)
    plt.close(fig)
    print(f'Saved {args.out} ({plotted} curves)')
    return args.out


if __name__ == '__main__':
    main()
