"""What a config says hookd reads of a payload: on receipt, per endpoint (its hooks' `on:`,
`if:` and concurrency groups, and hookd's own facts); in a job, per hook."""

from __future__ import annotations

from pathlib import Path

from conftest import write_config
from hookd.config import load_config
from hookd.core.payload_reads import EACH, Reads

CONFIG = """
endpoints:
  github: {forge: github, secret: s}
  gitlab: {forge: gitlab, secret: t}
hooks:
  site:
    endpoint: github
    on: {push: {branches: [main], paths: ['site/**']}}
    if: sender.login != 'bot'
    concurrency: "{{ repository.name }}"
    env: {WHO: "{{ pusher.name }}"}
    cwd: "/srv/{{ repository.owner.login }}"
    run: ./deploy "{{ head_commit.id }}"
  shell:
    endpoint: github
    on: push
    shell: true
    run: echo {{ after }}
  handler:
    endpoint: gitlab
    on: '*'
    python: handlers:main
"""


def test_an_endpoint_reads_hookd_facts_and_what_its_hooks_decide_on(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, CONFIG), {})
    github = config.specs["github"].reads
    assert not github.whole
    for path in [
        ("action",),
        ("object_attributes", "oldrev"),
        ("repository", "full_name"),
        ("pull_request", "head", "sha"),
        ("ref_type",),
        ("commits", EACH, "modified"),
        ("sender", "login"),
        ("repository", "name"),
    ]:
        assert Reads.of([path]).union(github) == github, path
    assert "pusher" not in github.keys and "head_commit" not in github.keys
    gitlab = config.specs["gitlab"].reads
    assert "commits" not in gitlab.keys  # no paths filter there
    assert "ref" in gitlab.keys and "sender" not in gitlab.keys


def test_a_run_job_reads_its_templates_and_any_other_action_everything(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, CONFIG), {})
    site = config.job_reads["site"]
    for path in [("head_commit", "id"), ("pusher", "name"), ("repository", "owner", "login")]:
        assert Reads.of([path]).union(site) == site, path
    assert "sender" not in site.keys and "commits" not in site.keys
    # A paths filter's job names the forge's API request for the files from the payload.
    for path in [("pull_request", "number"), ("project", "id"), ("object_attributes", "iid")]:
        assert Reads.of([path]).union(site) == site, path
    assert "after" in config.job_reads["shell"].keys
    assert config.job_reads["handler"] == Reads.everything()


def test_a_template_reading_hookd_changed_files_reads_the_commits(tmp_path: Path) -> None:
    text = """
endpoints:
  github: {forge: github, secret: s}
hooks:
  files:
    endpoint: github
    on: push
    if: hookd.changed_files | length > 0
    run: echo "{{ hookd.changed_files | join(',') }}"
"""
    config = load_config(write_config(tmp_path, text), {})
    modified = Reads.of([("commits", EACH, "modified")])
    assert modified.union(config.job_reads["files"]) == config.job_reads["files"]
    received = config.specs["github"].reads
    assert modified.union(received) == received
