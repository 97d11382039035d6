"""Tokens with identity: the entries' grammar, principals, the file re-read on change or
on request (SIGHUP), and batch keys a named principal's own."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from confrec.config.settings import Settings
from confrec.service.auth import STAT_INTERVAL_S, BearerTokens
from confrec.service.tokens import TokenError, from_env, from_file_text
from confrec.tasks.job import RecordStartJob, derived_command_id
from confrec.tasks.principal import Principal
from confrec.tasks.publishing.producer import fix_command_id
from confrec.worker.serve import ServeConfigError, bearer_tokens

JOB = RecordStartJob(conference_id="conf-1", format="wav")


def principals(raw: str) -> dict[bytes, Principal]:
    return {t.secret: t.principal for t in from_env(raw)}


def test_todays_plain_tokens_are_each_a_principal_named_by_a_digest() -> None:
    found = principals("tok-one, tok-two,,")
    assert set(found) == {b"tok-one", b"tok-two"}
    one, two = found[b"tok-one"], found[b"tok-two"]
    assert one.name != two.name
    for principal, token in ((one, "tok-one"), (two, "tok-two")):
        assert principal.name.startswith("sha256:") and len(principal.name) == 19
        assert token not in principal.name
        assert not principal.named and not principal.operator
    assert principals("tok-one")[b"tok-one"] == one  # stable: the same token, the same name


def test_named_and_operator_tokens() -> None:
    found = principals("alice:a-secret, ops+operator:o-secret, alice:a-rotated")
    assert found[b"a-secret"] == found[b"a-rotated"] == Principal("alice")
    assert found[b"o-secret"] == Principal("ops", operator=True)


@pytest.mark.parametrize(
    "entry", ["abc+def:x", "a b:c", "x" * 65 + ":y", "base64+/=:tail", ":leading"]
)
def test_an_entry_whose_prefix_is_not_a_name_is_a_plain_token_colons_and_all(entry: str) -> None:
    assert principals(entry) == {entry.encode(): principals(entry)[entry.encode()]}
    assert not principals(entry)[entry.encode()].named


def test_a_named_token_is_a_token_after_the_first_colon() -> None:
    assert principals("svc:abc:def") == {b"abc:def": Principal("svc")}


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("good, alice: ", "CONFREC_API_TOKENS entry 2: principal 'alice' has no token"),
        ("alice:same, bob:same", "entry 2: this token is already another principal's"),
        ("same, bob:same", "entry 2: this token is already another principal's"),
    ],
)
def test_bad_entries_are_refused_naming_where_never_the_token(raw: str, why: str) -> None:
    with pytest.raises(TokenError, match=why) as caught:
        from_env(raw)
    assert "same" not in str(caught.value).replace("same principal", "")


def test_the_file_has_one_entry_a_line_and_comments() -> None:
    text = "# the ops team\nops+operator:o1\n\n  # rotated 2026-12-07\nbilling:b1\nplain\n"
    found = {t.secret: t.principal for t in from_file_text(text, "/etc/t")}
    assert found[b"o1"] == Principal("ops", operator=True)
    assert found[b"b1"] == Principal("billing")
    assert not found[b"plain"].named
    with pytest.raises(TokenError, match="CONFREC_API_TOKENS_FILE /etc/t line 2"):
        from_file_text("ok\nx:\n", "/etc/t")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def rewrite(path: Path, text: str, *, keep_stat: bool = False) -> None:
    """Write in place; with ``keep_stat``, the same mtime (a change stat cannot see)."""
    before = path.stat()
    path.write_text(text)
    if keep_stat:
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def test_the_file_is_re_read_when_it_changes_at_most_once_a_second(tmp_path: Path) -> None:
    path, clock = tmp_path / "tokens", Clock()
    path.write_text("alice:a1\n")
    tokens = BearerTokens("env-token", path, clock=clock)
    assert tokens.principal("a1") == Principal("alice")
    assert tokens.principal("env-token") is not None
    rewrite(path, "bob:b1\n")
    clock.now += STAT_INTERVAL_S / 2
    assert tokens.principal("a1") == Principal("alice")  # not looked at yet
    clock.now += STAT_INTERVAL_S
    assert tokens.principal("a1") is None  # removed: refused
    assert tokens.principal("b1") == Principal("bob")  # added: accepted, no restart
    assert tokens.principal("env-token") is not None  # the environment's stay


def test_sighup_re_reads_a_change_stat_cannot_see(tmp_path: Path) -> None:
    path, clock = tmp_path / "tokens", Clock()
    path.write_text("alice:aaaa\n")
    tokens = BearerTokens("", path, clock=clock)
    rewrite(path, "alice:bbbb\n", keep_stat=True)
    clock.now += 2 * STAT_INTERVAL_S
    assert tokens.principal("aaaa") == Principal("alice")  # same mtime, size, inode
    tokens.reload()  # what SIGHUP does
    assert tokens.principal("aaaa") is None
    assert tokens.principal("bbbb") == Principal("alice")


def test_a_broken_file_leaves_the_last_good_tokens(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path, clock = tmp_path / "tokens", Clock()
    path.write_text("alice:a1\n")
    tokens = BearerTokens("", path, clock=clock)
    rewrite(path, "alice:a1\nbob:\n")
    clock.now += 2 * STAT_INTERVAL_S
    assert tokens.principal("a1") == Principal("alice")
    path.unlink()
    tokens.reload()
    assert tokens.principal("a1") == Principal("alice")
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("line 2: principal 'bob' has no token" in w for w in warnings)
    assert any("No such file" in w for w in warnings)
    assert all("a1" not in w for w in warnings)


def test_no_token_anywhere_or_an_unreadable_file_at_start_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TokenError, match="no token in CONFREC_API_TOKENS"):
        BearerTokens(" , ")
    empty = tmp_path / "empty"
    empty.write_text("# nobody yet\n")
    with pytest.raises(TokenError, match="nor in CONFREC_API_TOKENS_FILE"):
        BearerTokens("", empty)
    with pytest.raises(TokenError, match=r"CONFREC_API_TOKENS_FILE .*missing"):
        BearerTokens("t", tmp_path / "missing")


def test_a_named_principals_batch_keys_are_its_own() -> None:
    cli = fix_command_id(JOB, "nightly").command_id
    unnamed = fix_command_id(JOB, "nightly", Principal("sha256:0", named=False).batch_scope)
    alice = fix_command_id(JOB, "nightly", Principal("alice").batch_scope).command_id
    bob = fix_command_id(JOB, "nightly", Principal("bob").batch_scope).command_id
    assert unnamed.command_id == cli == derived_command_id("nightly", JOB)  # as before
    assert len({cli, alice, bob}) == 3
    assert alice == fix_command_id(JOB, "nightly", "alice").command_id  # stable
    # No batch key of the CLI or an unnamed token derives a named principal's id.
    assert derived_command_id("alice\nnightly", JOB) != alice


def test_a_principal_sees_its_own_jobs_an_operator_every_job() -> None:
    alice, ops = Principal("alice"), Principal("ops", operator=True)
    assert alice.sees("alice") and not alice.sees("bob") and not alice.sees(None)
    assert ops.sees("alice") and ops.sees(None)


def test_serve_refuses_to_start_on_bad_tokens_naming_the_variable(tmp_path: Path) -> None:
    def refusal(**fields: object) -> str:
        with pytest.raises(ServeConfigError) as caught:
            bearer_tokens(Settings.model_validate(fields))
        return str(caught.value)

    assert "CONFREC_API_TOKENS is not set" in refusal()
    assert refusal(api_tokens="s3cret-one, bob:") == (
        "CONFREC_API_TOKENS entry 2: principal 'bob' has no token after ':'"
    )
    missing = tmp_path / "nope"
    assert refusal(api_tokens_file=missing).startswith(f"CONFREC_API_TOKENS_FILE {missing}: ")
    path = tmp_path / "tokens"
    path.write_text("ops+operator:s3cret-two\n")
    assert bearer_tokens(Settings(api_tokens_file=path)).principal("s3cret-two") == Principal(
        "ops", operator=True
    )
