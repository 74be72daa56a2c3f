"""A run's config before the Runner is built: adapted to the machine
(:mod:`.adapt`) and checked (:mod:`.checks`, :mod:`.config_arguments`)."""
