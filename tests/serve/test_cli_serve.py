"""`mdm serve` as a command: registered, and its mistakes are one line on stderr with exit 2."""

import socket

from fuzz_support import assert_one_line_error, run_cli


def test_serve_is_a_subcommand_with_loopback_default():
    from mdm.cli import build_parser

    args = build_parser().parse_args(["serve", "ckpt"])
    assert args.command == "serve" and args.host == "127.0.0.1" and args.checkpoint == "ckpt"


def test_a_missing_checkpoint_is_one_line(tmp_path):
    rc, _, err = run_cli(["serve", tmp_path / "nope"])
    assert_one_line_error(rc, err, "serve nope")
    assert "does not exist" in err


def test_a_checkpoint_and_hf_together_is_one_line(tiny_ckpt, tmp_path):
    rc, _, err = run_cli(["serve", tiny_ckpt, "--hf", tmp_path])
    assert_one_line_error(rc, err, "serve both")


def test_a_port_in_use_is_one_line(tiny_ckpt):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        rc, out, err = run_cli(["serve", tiny_ckpt, "--port", port])
    assert_one_line_error(rc, err, "serve busy port")
    assert f"127.0.0.1:{port}" in err and out == ""
