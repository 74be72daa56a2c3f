"""Command-line options of the data every Fashion-MNIST tool reads."""
import argparse


def add_data_arguments(parser: argparse.ArgumentParser,
                       per_class: int = None) -> None:
    """Add ``--data-root`` and the per-class subset sizes to ``parser``.

    Args:
        parser (argparse.ArgumentParser): The tool's parser.
        per_class (int, optional): Default of the three subset sizes; None
            lets the tool fill them from its scale.

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> add_data_arguments(parser, per_class=200)
        >>> args = parser.parse_args(['--test-per-class', '0'])
        >>> args.data_root, args.train_per_class, args.test_per_class
        ('data/fashion_mnist', 200, 0)
    """
    parser.add_argument('--data-root', default='data/fashion_mnist',
                        help='where the IDX files are unpacked (from '
                        "Debian's package on first use)")
    parser.add_argument('--train-per-class', type=int, default=per_class,
                        help='pretraining images per class (0: all 6000)')
    parser.add_argument('--bank-per-class', type=int, default=per_class,
                        help='kNN bank / linear-probe images per class (0: '
                        'all)')
    parser.add_argument('--test-per-class', type=int, default=per_class,
                        help='test images per class (0: all 1000)')
