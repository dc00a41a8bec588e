"""zoo-core's command that publishes: ``zoo push DIRECTORY org/name``.

A directory written by ``zoo_core.save_pretrained`` (``model.safetensors``, ``config.json``,
``README.md`` in timm's format) is uploaded to a Hub repository through huggingface_hub's own
``HfApi.create_repo`` / ``upload_folder``, with its token (``hf auth login`` or ``HF_TOKEN``) and
endpoint (``HF_ENDPOINT``). Nothing is imported until the command runs.
"""

from __future__ import annotations

import argparse
import json

from zoo_core.cli import non_empty


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``push`` to the ``zoo`` command line."""
    p = subparsers.add_parser("push", help="upload a directory written by save_pretrained to a Hub repository")
    p.add_argument("directory", type=non_empty,
                   help="holds model.safetensors and config.json (written by zoo_core.save_pretrained)")
    p.add_argument("repo_id", type=non_empty, metavar="ORG/NAME", help="the repository, created if absent")
    p.add_argument("--revision", default=None, type=non_empty, help="branch to commit to (default: main)")
    p.add_argument("--private", action="store_true", help="create the repository private")
    p.add_argument("--create-pr", action="store_true", help="open a pull request instead of committing")
    p.add_argument("--message", default="Add model", type=non_empty, help="the commit message")
    p.add_argument("--json", action="store_true",
                   help='one JSON object: {"repo_id": ORG/NAME, "commit": SHA, "url": COMMIT_URL, "pr_url": URL|null}')
    p.set_defaults(func=cmd_push)


def cmd_push(args) -> int:
    """Upload the directory; print the commit's URL (or JSON)."""
    from zoo_core.save import upload_folder

    info = upload_folder(args.directory, args.repo_id, revision=args.revision, private=True if args.private else None,
                         create_pr=args.create_pr, commit_message=args.message)
    if args.json:
        print(json.dumps({"repo_id": args.repo_id, "commit": info.oid, "url": info.commit_url,
                          "pr_url": info.pr_url}, indent=2))
    else:
        print(f"{args.repo_id}: {info.pr_url or info.commit_url}")
    return 0
