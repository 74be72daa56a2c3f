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


def fill_data_arguments(args: argparse.Namespace,
                        scale: dict = None) -> argparse.Namespace:
    """Fill the options left unset from the tool's scale; 0 images per
    class means all of them (None).

    Args:
        args (argparse.Namespace): Parsed options.
        scale (dict, optional): Defaults of the chosen scale (any option
            name, e.g. ``train_per_class`` or ``mae_epochs``).

    Returns:
        argparse.Namespace: ``args``, changed in place.

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> add_data_arguments(parser)
        >>> args = parser.parse_args(['--bank-per-class', '0'])
        >>> args = fill_data_arguments(args, dict(train_per_class=8,
        ...                                       bank_per_class=8))
        >>> args.train_per_class, args.bank_per_class, args.test_per_class
        (8, None, None)
    """
    for key, value in (scale or {}).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    for key in ('train_per_class', 'bank_per_class', 'test_per_class'):
        if getattr(args, key) == 0:
            setattr(args, key, None)  # all images
    return args
