"""R/config/<svc>/.env reaches an upstream `env_file: .env` as a link, invisible to git."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from remote.docker import envlink
from remote.docker.compose import accepted_project_name


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A git checkout with services/app/compose.yaml committed."""
    repo = tmp_path / "repo"
    (repo / "services" / "app").mkdir(parents=True)
    (repo / "services" / "app" / "compose.yaml").write_text("services: {}\n")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    return repo


def test_link_points_at_the_config_env_and_git_status_stays_clean(
    checkout: Path, tmp_path: Path
) -> None:
    """The link holds no secret (it is a link), compose reads through it, git sees nothing."""
    env = tmp_path / "config" / "app" / ".env"
    env.parent.mkdir(parents=True)
    env.write_text("DB_PASSWORD=s3cret\n")
    service = checkout / "services" / "app"
    assert envlink.link_env(str(service), str(env)) == envlink.LINKED
    assert (service / ".env").is_symlink()
    assert (service / ".env").read_text() == "DB_PASSWORD=s3cret\n"
    assert git(checkout, "status", "--porcelain") == ""
    assert envlink.link_env(str(service), str(env)) == envlink.LINKED
    exclude = (checkout / ".git" / "info" / "exclude").read_text()
    assert exclude.count("/services/app/.env") == 1, "idempotent: one line per link"


def test_a_stale_link_is_removed_and_a_moved_one_refreshed(checkout: Path, tmp_path: Path) -> None:
    """No config .env any more: the link goes; another target: the link follows it."""
    service = checkout / "services" / "app"
    old, new = tmp_path / "old.env", tmp_path / "new.env"
    old.write_text("A=1\n")
    new.write_text("A=2\n")
    envlink.link_env(str(service), str(old))
    envlink.link_env(str(service), str(new))
    assert (service / ".env").read_text() == "A=2\n"
    assert envlink.link_env(str(service), None) == envlink.UNLINKED
    assert not (service / ".env").exists()
    assert envlink.link_env(str(service), None) == envlink.NOTHING


def test_the_repos_own_env_file_is_never_touched(checkout: Path, tmp_path: Path) -> None:
    """An upstream repo that tracks services/<svc>/.env keeps it; compose gets both files."""
    service = checkout / "services" / "app"
    (service / ".env").write_text("DEFAULT=1\n")
    config = tmp_path / "config.env"
    config.write_text("DEFAULT=2\n")
    assert envlink.link_env(str(service), str(config)) == envlink.REPO_OWN
    assert (service / ".env").read_text() == "DEFAULT=1\n"
    assert envlink.repo_env(str(service)) == str(service / ".env")


def test_a_worktree_checkout_excludes_in_its_common_git_dir(checkout: Path, tmp_path: Path) -> None:
    """A .git file (git worktree) is followed to the git dir whose info/exclude counts."""
    tree = tmp_path / "tree"
    git(checkout, "worktree", "add", "-q", str(tree))
    env = tmp_path / "w.env"
    env.write_text("A=1\n")
    envlink.link_env(str(tree / "services" / "app"), str(env))
    assert git(tree, "status", "--porcelain") == ""


def test_a_folder_outside_git_just_gets_the_link(tmp_path: Path) -> None:
    """A pushed revision folder (no git) gets the link and nothing else."""
    service = tmp_path / "rev" / "services" / "app"
    service.mkdir(parents=True)
    env = tmp_path / "a.env"
    env.write_text("A=1\n")
    assert envlink.link_env(str(service), str(env)) == envlink.LINKED
    assert sorted(p.name for p in service.iterdir()) == [".env"]


@pytest.mark.parametrize(
    ("name", "accepted"),
    [("nextcloud", None), ("h12-a_b", None), ("Nextcloud", "nextcloud"), ("my.app", "my-app"),
     ("Home.Assistant", "home-assistant"), ("9lives", None)],
)  # fmt: skip
def test_accepted_project_name_follows_composes_rule(name: str, accepted: str | None) -> None:
    """Lower case, '.' to '-'; None when compose takes the name as it is."""
    assert accepted_project_name(name) == accepted
