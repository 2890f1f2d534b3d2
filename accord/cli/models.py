"""`accord models`: list the packaged models and whether each is installed and verified.

    accord models            # table
    accord models --verify   # also assemble and sha256-check every installed one
"""

from __future__ import annotations


def run_models(args) -> int:
    from accord.errors import AccordError
    from accord.lm.packaged import DEFAULT_MODEL, PACKAGED_MODELS, packaged_gguf_path, part_paths

    labels = {name: name + (" (default)" if name == DEFAULT_MODEL else "") for name in PACKAGED_MODELS}
    width = max(map(len, labels.values()))
    for name, spec in PACKAGED_MODELS.items():
        try:
            part_paths(spec)
            status = "installed"
            if args.verify:
                status = f"verified: {packaged_gguf_path(name)}"
        except AccordError as error:
            status = f"not usable: {error}" if args.verify else f"not installed ({spec.pip_install})"
        print(f"{labels[name]:{width}s}  {spec.size / 2**20:7.0f} MiB  {status}")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("models", help="list packaged models", description=__doc__.split("\n\n")[0])
    parser.add_argument("--verify", action="store_true", help="assemble and sha256-verify installed models")
    parser.set_defaults(func=run_models)
