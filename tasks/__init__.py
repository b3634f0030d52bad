"""Benchmark tasks: each factory builds a Trainee from a seed, with nothing downloaded.

The tasks are declared by name as entry points of the ``autolr.tasks`` group (setup.cfg),
which ``autolr.loop.trainee.TASKS`` reads, and built with
``autolr.loop.trainee.make_task({"name": ..., **params}, seed)``:

=================  ===========================================  =================================
name               what                                         data
=================  ===========================================  =================================
nqm                noisy quadratic model, plain SGD             none (synthetic)
powerlaw           linear regression, power-law spectrum        generated (synthetic)
digits-cnn         small CNN                                    sklearn's 8x8 digits
mnist1d-mlp        MLP                                          MNIST-1D, generated locally
mnist1d-cnn        1-D CNN                                      MNIST-1D, generated locally
stdlib-lm          byte-level transformer                       CPython stdlib ``.py`` sources
text-lm            byte-level transformer                       a UTF-8 text file (``path``)
continual-lm       byte-level transformer, corpora in turn      stdlib sources, then its docs
cifar10-resnet     CIFAR ResNet-20, crop+flip augmentation      CIFAR-10 pickles (``path``)
idx-cnn            small CNN                                    MNIST/Fashion IDX files (``path``)
=================  ===========================================  =================================

Every factory has the signature ``make(seed, device="cpu", *, **params)`` and carries
``make.describe(**params) -> TaskInfo``, which reads no data. Shared parameter names:
``width``, ``depth``, ``batch_size``, ``seq_len``, ``data_seed``, ``lr``, ``path``,
``optimizer`` (``sgd``, ``sgd-plain``, ``adam``, ``adamw``) and ``weight_decay``. ``seed``
sets the model's initialisation and the batch order; ``data_seed`` sets a generated data
set and its train/validation/test split, so that all run seeds share one data set.
``evaluate("val")`` scores validation, ``evaluate("test")`` the held-out test split (see
``tasks.splits`` and docs/tasks.md).
"""
