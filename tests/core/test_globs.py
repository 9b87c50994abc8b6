"""GitHub Actions filter patterns, checked against the examples of GitHub's "Filter pattern
cheat sheet" (Workflow syntax for GitHub Actions)."""

import pytest

from hookd.core.globs import compile_glob, deciding_pattern, filter_matches, glob_matches

# "Patterns to match branches and tags": (pattern, matches, does not match)
BRANCH_AND_TAG_EXAMPLES = [
    ("feature/*", ["feature/my-branch", "feature/your-branch"], ["feature/your-branch/x"]),
    (
        "feature/**",
        ["feature/beta-a/my-branch", "feature/your-branch", "feature/mona/the/octocat"],
        ["features/x", "feature"],
    ),
    ("main", ["main"], ["main2", "xmain", "Main"]),
    ("releases/mona-the-octocat", ["releases/mona-the-octocat"], ["releases/mona"]),
    ("*", ["main", "releases"], ["all/the/branches", "releases/v1"]),
    ("**", ["all/the/branches", "every/tag", "main"], []),
    ("*feature", ["mona-feature", "feature", "ver-10-feature"], ["feature-x", "a/feature"]),
    ("v2*", ["v2", "v2.0", "v2.9"], ["v1.0", "v2/x"]),
    ("v[12].[0-9]+.[0-9]+", ["v1.10.1", "v2.0.0"], ["v3.0.0", "v1.0", "v1..1", "v1x0.0"]),
]

# "Patterns to match file paths": (pattern, matches, does not match)
PATH_EXAMPLES = [
    ("*", ["README.md", "server.rb"], ["docs/README.md"]),
    ("*.jsx?", ["page.js", "page.jsx"], ["page.jsxx", "js/page.js"]),
    ("**", ["all/the/files.md"], []),
    ("*.js", ["app.js", "index.js"], ["js/index.js", "app.jsx"]),
    ("**.js", ["index.js", "js/index.js", "src/js/app.js"], ["index.jsx"]),
    ("docs/*", ["docs/README.md", "docs/file.txt"], ["docs/mona/octocat.txt", "docs"]),
    ("docs/**", ["docs/README.md", "docs/mona/octocat.txt"], ["site/docs/a.md"]),
    (
        "docs/**/*.md",
        ["docs/README.md", "docs/mona/hello-world.md", "docs/a/markdown/file.md"],
        ["docs/a/file.txt", "README.md"],
    ),
    (
        "**/docs/**",
        ["docs/hello.md", "dir/docs/my-file.txt", "space/docs/plan/space.doc"],
        ["mydocs/x.md"],
    ),
    ("**/README.md", ["README.md", "js/README.md"], ["README.mdx", "js/NOTREADME.md"]),
    ("**/*src/**", ["a/src/app.js", "my-src/code/js/app.js"], ["src.js"]),
    ("**/*-post.md", ["my-post.md", "path/their-post.md"], ["post.md"]),
    (
        "**/migrate-*.sql",
        ["migrate-10909.sql", "db/migrate-v1.0.sql", "db/sept/migrate-v1.sql"],
        ["migrate.sql"],
    ),
]


@pytest.mark.parametrize(("pattern", "matching", "other"), BRANCH_AND_TAG_EXAMPLES + PATH_EXAMPLES)
def test_matches_the_cheat_sheet_examples(
    pattern: str, matching: list[str], other: list[str]
) -> None:
    for value in matching:
        assert glob_matches(pattern, value), value
    for value in other:
        assert not glob_matches(pattern, value), value


def test_question_mark_and_plus_repeat_the_preceding_character() -> None:
    assert glob_matches("colou?r", "color")
    assert glob_matches("colou?r", "colour")
    assert not glob_matches("colou?r", "colouur")
    assert glob_matches("ab+c", "abbbc")
    assert not glob_matches("ab+c", "ac")
    assert glob_matches("[0-9]+", "2024")


def test_brackets_match_one_listed_character_or_range() -> None:
    assert glob_matches("[CB]at", "Cat")
    assert glob_matches("[CB]at", "Bat")
    assert not glob_matches("[CB]at", "Hat")
    assert glob_matches("[1-2]00", "100")
    assert glob_matches("[1-2]00", "200")
    assert not glob_matches("[1-2]00", "300")
    assert glob_matches("[0-9a-z]", "q")
    assert not glob_matches("[0-9a-z]", "Q")


def test_regex_characters_are_literal() -> None:
    assert glob_matches("v1.0", "v1.0")
    assert not glob_matches("v1.0", "v1x0")
    assert glob_matches("a(b)|c^$", "a(b)|c^$")
    assert glob_matches("release/{x}", "release/{x}")


def test_backslash_escapes_special_characters() -> None:
    assert glob_matches(r"\*", "*")
    assert not glob_matches(r"\*", "a")
    assert glob_matches(r"a\+", "a+")
    assert glob_matches(r"\[x]", "[x]")
    assert glob_matches(r"\!file", "!file")
    assert glob_matches("escape\\\\backslash", "escape\\backslash")


def test_matching_is_case_sensitive_and_whole() -> None:
    assert not glob_matches("main", "MAIN")
    assert not glob_matches("main", "main/x")
    assert not glob_matches("ma", "main")


def test_a_later_negation_excludes_and_a_later_pattern_includes_again() -> None:
    # The cheat sheet's "Using ! to exclude" examples.
    assert filter_matches(["*.md", "!README.md"], "hello.md")
    assert not filter_matches(["*.md", "!README.md"], "README.md")
    assert not filter_matches(["*.md", "!README.md"], "docs/hello.md")
    assert filter_matches(["*.md", "!README.md", "README*"], "hello.md")
    assert filter_matches(["*.md", "!README.md", "README*"], "README.md")
    assert filter_matches(["*.md", "!README.md", "README*"], "README.doc")


def test_a_negation_before_the_inclusion_does_not_exclude() -> None:
    assert filter_matches(["!release/old", "release/**"], "release/old")


def test_no_matching_pattern_means_not_included() -> None:
    assert not filter_matches(["main"], "dev")
    assert not filter_matches([], "dev")


def test_deciding_pattern_is_the_last_that_matched() -> None:
    patterns = ["release/**", "!release/old*", "release/old-lts"]
    assert deciding_pattern(patterns, "release/v1") == "release/**"
    assert deciding_pattern(patterns, "release/old") == "!release/old*"
    assert deciding_pattern(patterns, "release/old-lts") == "release/old-lts"
    assert deciding_pattern(patterns, "main") is None


def test_compiles_each_pattern_once() -> None:
    assert compile_glob("cached/**") is compile_glob("cached/**")


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("", "a pattern cannot be empty"),
        ("v[12", "invalid pattern 'v[12': at character 2, '[' has no closing ']'"),
        ("a[]b", "'[]' lists no characters"),
        ("[a-Z]", "the range 'a-Z' is not within a-z, A-Z or 0-9"),
        ("[9-0]", "the range '9-0' is not within a-z, A-Z or 0-9"),
        ("[._]", "'.' cannot be in brackets"),
        ("[a-]", "'-' cannot be in brackets"),
        ("+x", "at character 1, '+' repeats the preceding character, and there is none"),
        ("*?", "'?' repeats the preceding character"),
        ("a?+", "'+' repeats the preceding character"),
        ("x\\", "at character 2, '\\' at the end escapes nothing"),
    ],
)
def test_rejects_invalid_patterns_with_a_sentence(pattern: str, problem: str) -> None:
    with pytest.raises(ValueError) as caught:
        compile_glob(pattern)
    assert problem in str(caught.value)


def test_filter_lists_reject_invalid_patterns_too() -> None:
    with pytest.raises(ValueError, match="has no closing"):
        filter_matches(["main", "!v[1"], "main")
