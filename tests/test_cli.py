"""The headless CLI: exit codes, messages, --json shapes, and no tracebacks on bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sandbench import __version__
from sandbench.cli.main import main
from tests.conftest import SAMPLES, scenario_dict, schema_errors

GOOD = textwrap.dedent(
    '''
    name = "hello"
    reference_output = """
    echo hi > out.txt
    """

    [input_context]
    problem_statement = """
    Write hi into out.txt.
    Keep it short.
    """

    [[scoring_contract.scoring_function_parameters]]
    name = "exists"
    weight = 0.4

    [scoring_contract.scoring_function_parameters.scorer]
    type = "command_scorer"
    command = "test -f out.txt"

    [[scoring_contract.scoring_function_parameters]]
    name = "content"
    weight = 0.6

    [scoring_contract.scoring_function_parameters.scorer]
    type = "bash_script_scorer"
    bash_script = """
    grep -q hi out.txt && echo score=1 || echo score=0
    """

    [environment_parameters]
    working_directory = "/workspace"

    [environment_parameters.launch_parameters]
    resource_size_request = "X_SMALL"
    '''
).lstrip()

BROKEN = textwrap.dedent(
    """
    name = "broken"
    [input_context]
    problem_statement = "x"
    [[scoring_contract.scoring_function_parameters]]
    name = "a b"
    weight = 0.3
    [scoring_contract.scoring_function_parameters.scorer]
    type = "command_scorer"
    commnd = "true"
    [environment_parameters.launch_parameters]
    resource_size_request = "CUSTOM_SIZE"
    custom_cpu_cores = 3
    custom_gb_memory = 8
    """
).lstrip()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    made = {
        "good": tmp_path / "good.toml",
        "broken": tmp_path / "broken.toml",
        "syntax": tmp_path / "syntax.toml",
        "json_syntax": tmp_path / "syntax.json",
    }
    made["good"].write_text(GOOD)
    made["broken"].write_text(BROKEN)
    made["syntax"].write_text('name = "x"\n\n[input_context\nproblem_statement = "y"\n')
    made["json_syntax"].write_text('{"name": "x",\n  "input_context": }\n')
    return made


# ----------------------------------------------------------------------------- validate


def test_validate_reports_file_field_and_reason(capsys, files) -> None:
    code, out, _ = run(capsys, "scenarios", "validate", str(files["good"]), str(files["broken"]))
    assert code == 2
    lines = out.splitlines()
    broken = str(files["broken"])
    assert f"{broken}: scoring_contract.scoring_function_parameters[0].name: scorer name" in out
    assert (
        f"{broken}: scoring_contract.scoring_function_parameters[0].scorer.commnd: unknown" in out
    )
    assert f"{broken}: environment_parameters.launch_parameters.custom_cpu_cores: must be" in out
    assert f"{broken}: scoring_contract: weights sum to 0.3" in out
    assert all(line.startswith(f"{broken}: ") for line in lines)  # nothing about the good file


def test_validate_names_the_line_of_a_syntax_error(capsys, files) -> None:
    code, out, _ = run(capsys, "scenarios", "validate", str(files["syntax"]))
    assert code == 2
    assert out.startswith(f"{files['syntax']}: line 3, column 15: invalid TOML")
    code, out, _ = run(capsys, "scenarios", "validate", str(files["json_syntax"]))
    assert code == 2
    assert out.startswith(f"{files['json_syntax']}: line 2, column 20: invalid JSON")


def test_validate_ok_and_json(capsys, files) -> None:
    code, out, err = run(capsys, "scenarios", "validate", str(files["good"]))
    assert (code, out) == (0, "")
    assert "ok" in err
    code, out, _ = run(capsys, "scenarios", "validate", "--json", str(files["broken"]))
    report = json.loads(out)
    assert code == 2 and report["ok"] is False
    assert report["files"][0]["problems"][-1]["path"] == "scoring_contract"
    assert len(report["files"][0]["problems"]) == 4


def test_validate_does_not_touch_the_store(capsys, files, sandbench_home: Path) -> None:
    run(capsys, "scenarios", "validate", str(files["good"]))
    assert not (sandbench_home / "data" / "sandbench.db").exists()


def test_validate_missing_path(capsys, tmp_path: Path) -> None:
    code, out, _ = run(capsys, "scenarios", "validate", str(tmp_path / "nope.toml"))
    assert code == 2 and "no such file" in out


# ----------------------------------------------------------------------------- import and list


def test_import_list_show_export_archive(capsys, files, tmp_path: Path) -> None:
    code, out, err = run(capsys, "scenarios", "import", str(files["good"]))
    assert code == 0 and out.startswith("created") and "1 created" in err
    scenario_id = out.split()[1]
    code, out, _ = run(capsys, "scenarios", "import", str(files["good"]))
    assert out.startswith("unchanged")

    code, out, _ = run(capsys, "scenarios", "list")
    assert code == 0 and "hello" in out and "X_SMALL" in out and "command, bash_script" in out

    code, out, _ = run(capsys, "scenarios", "list", "--json")
    listing = json.loads(out)
    assert listing["total_count"] == 1 and listing["has_more"] is False
    assert listing["scenarios"][0]["id"] == scenario_id
    assert "environment" in listing["scenarios"][0]

    code, out, _ = run(capsys, "scenarios", "show", "hello")
    assert code == 0 and "X_SMALL: 0.5 cpu, 1 GiB memory, 4 GiB disk" in out
    assert "Write hi into out.txt." in out

    code, out, _ = run(capsys, "scenarios", "export", scenario_id)
    exported = json.loads(out)
    assert schema_errors(exported, "runloop-scenario.schema.json") == []
    code, out, _ = run(capsys, "scenarios", "export", "hello", "--format", "toml")
    assert 'problem_statement = """\nWrite hi into out.txt.\nKeep it short.\n"""' in out

    out_dir = tmp_path / "exported"
    code, _, _ = run(capsys, "scenarios", "export", "--all", "-o", str(out_dir))
    assert code == 0 and [p.name for p in out_dir.iterdir()] == ["hello.json"]

    code, out, _ = run(capsys, "scenarios", "archive", "hello")
    assert code == 0 and out.startswith("archived")
    code, out, err = run(capsys, "scenarios", "list")
    assert out == "" and "no scenarios" in err
    code, _, err = run(capsys, "scenarios", "show", "hello")
    assert code == 1 and "no scenario with id or name 'hello'" in err


def test_list_json_output_imports_back(capsys, files, tmp_path: Path) -> None:
    run(capsys, "scenarios", "import", str(files["good"]))
    code, out, _ = run(capsys, "scenarios", "list", "--json")
    listing = tmp_path / "listing.json"
    listing.write_text(out)
    code, out, _ = run(capsys, "scenarios", "import", str(listing))
    assert code == 0 and out.startswith("unchanged")


def test_import_with_a_problem_imports_nothing(capsys, files) -> None:
    code, out, err = run(capsys, "scenarios", "import", str(files["good"]), str(files["broken"]))
    assert code == 2 and out == "" and "nothing imported" in err and "broken.toml" in err
    code, _out, err = run(capsys, "scenarios", "list")
    assert "no scenarios" in err


def test_list_paging_flags(capsys, tmp_path: Path) -> None:
    for i in range(5):
        (tmp_path / f"s{i}.json").write_text(json.dumps(scenario_dict(name=f"s{i}")))
    run(capsys, "scenarios", "import", str(tmp_path))
    code, out, err = run(capsys, "scenarios", "list", "--limit", "2")
    assert len(out.splitlines()) == 3 and "2 of 5; 3 more: --starting-after scn_" in err
    cursor = err.rsplit(" ", 1)[1].strip()
    code, out, _ = run(capsys, "scenarios", "list", "--limit", "2", "--starting-after", cursor)
    assert code == 0 and "s2" in out and "s3" in out and "s1" not in out
    _code, out, _ = run(capsys, "scenarios", "list", "--name", "s4", "--json")
    assert [s["name"] for s in json.loads(out)["scenarios"]] == ["s4"]


def test_export_toml_roundtrip_through_import(capsys, files, tmp_path: Path) -> None:
    run(capsys, "scenarios", "import", str(files["good"]))
    out_dir = tmp_path / "toml"
    run(capsys, "scenarios", "export", "--all", "--format", "toml", "-o", str(out_dir))
    code, out, _ = run(capsys, "scenarios", "import", str(out_dir / "hello.toml"))
    assert code == 0 and out.startswith("unchanged")


# ----------------------------------------------------------------------------- benchmarks, config


def test_benchmarks_create_and_list(capsys, files) -> None:
    run(capsys, "scenarios", "import", str(files["good"]))
    code, out, _ = run(capsys, "benchmarks", "create", "smoke", "--scenario", "hello", "--json")
    created = json.loads(out)
    assert code == 0 and created["name"] == "smoke" and len(created["scenario_ids"]) == 1
    code, out, _ = run(capsys, "benchmarks", "list", "--json")
    assert [b["name"] for b in json.loads(out)["benchmarks"]] == ["smoke"]
    code, out, _ = run(capsys, "scenarios", "list", "--benchmark", "smoke")
    assert "hello" in out
    code, _, err = run(capsys, "benchmarks", "create", "other", "--scenario", "missing")
    assert code == 1 and "missing" in err
    code, out, _ = run(capsys, "benchmarks", "list")
    assert "other" not in out


def test_config_show_and_set(capsys, sandbench_home: Path) -> None:
    code, out, _ = run(capsys, "config", "set", "concurrency", "4")
    assert code == 0 and out.strip() == "concurrency = 4"
    assert "concurrency = 4" in (sandbench_home / "config" / "config.toml").read_text()
    code, out, _ = run(capsys, "config", "show", "--json")
    shown = json.loads(out)
    assert shown["concurrency"] == 4 and shown["default_image"].startswith("localhost/")
    code, _, err = run(capsys, "config", "set", "concurrency", "many")
    assert code == 2 and "concurrency" in err and "integer" in err
    assert "concurrency = 4" in (sandbench_home / "config" / "config.toml").read_text()
    code, out, _ = run(capsys, "config", "set", "concurrency", "")
    assert out.strip() == "concurrency = 2"  # back to the default


def test_version_and_bare_help(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"sandbench {__version__}"
    code, out, _ = run(capsys)
    assert code == 0 and "scenarios" in out and "benchmarks" in out


# ----------------------------------------------------------------------------- no tracebacks


def cli(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sandbench.cli", *argv],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["scenarios", "show", "nope"], 1, "no scenario"),
        (["scenarios", "export"], 2, "needs a scenario"),
        (["scenarios", "export", "--all"], 2, "needs --output"),
        (["scenarios", "list", "--limit", "0"], 2, "limit must be between"),
        (["scenarios", "list", "--limit", "ten"], 2, "invalid int value"),
        (["scenarios", "list", "--starting-after", "scn_x"], 1, "starting_after"),
        (["scenarios", "archive", "nope"], 1, "no scenario"),
        (["benchmarks", "show", "nope"], 1, "no benchmark"),
        (["config", "set", "colour", "red"], 2, "unknown config key 'colour'"),
        (["config", "set", "keymap.nothing.here", "x"], 2, "no key binding has the id"),
        (["scenarios", "frobnicate"], 2, "invalid choice"),
    ],
)
def test_bad_input_gets_a_message_not_a_traceback(argv, code, message) -> None:
    result = cli(*argv)
    assert result.returncode == code, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_config_keymap_entries_are_set_and_removed_by_id(capsys, sandbench_home: Path) -> None:
    code, out, _ = run(capsys, "config", "set", "keymap.scenarios.run", "x")
    assert code == 0 and out.strip() == "keymap.scenarios.run = x"
    run(capsys, "config", "set", "keymap.app.help", "f1")
    assert '"scenarios.run" = "x"' in (sandbench_home / "config" / "config.toml").read_text()
    code, out, _ = run(capsys, "config", "show", "--json")
    assert json.loads(out)["keymap"] == {"scenarios.run": "x", "app.help": "f1"}
    code, out, _ = run(capsys, "config", "set", "keymap.scenarios.run", "")
    assert code == 0 and out.strip() == "keymap.scenarios.run = -"
    code, out, _ = run(capsys, "config", "show", "--json")
    assert json.loads(out)["keymap"] == {"app.help": "f1"}


def test_config_warm_pool_sizes_are_set_one_at_a_time(capsys, sandbench_home: Path) -> None:
    config_file = sandbench_home / "config" / "config.toml"
    code, out, _ = run(capsys, "config", "set", "warm_pool.MEDIUM", "3")
    assert code == 0 and out.strip() == "warm_pool.MEDIUM = 3"
    code, out, _ = run(capsys, "config", "set", "warm_pool.X_SMALL", "0")  # none of that size
    assert code == 0 and out.strip() == "warm_pool.X_SMALL = 0"
    code, out, _ = run(capsys, "config", "show", "--json")
    assert json.loads(out)["warm_pool"] == {"SMALL": 2, "MEDIUM": 3}
    code, out, _ = run(capsys, "config", "show")
    assert "SMALL=2, MEDIUM=3" in out
    written = config_file.read_text()
    for argv, message in [
        (["warm_pool.HUGE", "1"], "warm_pool.HUGE: no such size preset"),
        (["warm_pool.SMALL", "17"], "warm_pool.SMALL: the count must be a whole number 0..16"),
        (["warm_pool.SMALL", "two"], "warm_pool.SMALL: the count must be a whole number"),
        (["warm_pool.SMALL", "-1"], "not '-1'"),
    ]:
        result = cli("config", "set", *argv)
        assert result.returncode == 2, result.stderr
        assert message in result.stderr and "Traceback" not in result.stderr
        assert config_file.read_text() == written  # untouched
    # empty: that size's default again (X_SMALL's is 2; MEDIUM has none)
    code, out, _ = run(capsys, "config", "set", "warm_pool.X_SMALL", "")
    assert code == 0 and out.strip() == "warm_pool.X_SMALL = 2"
    code, out, _ = run(capsys, "config", "set", "warm_pool.MEDIUM", "")
    assert code == 0 and out.strip() == "warm_pool.MEDIUM = 0"
    code, out, _ = run(capsys, "config", "show", "--json")
    assert json.loads(out)["warm_pool"] == {"X_SMALL": 2, "SMALL": 2}
    assert "warm_pool" not in config_file.read_text()  # the default: not written


def test_broken_config_and_database_are_reported(sandbench_home: Path) -> None:
    config = sandbench_home / "config" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("concurrency = \n")
    result = cli("config", "show")
    assert result.returncode == 2 and "config.toml: invalid TOML" in result.stderr
    assert "line 1" in result.stderr and "Traceback" not in result.stderr

    database = sandbench_home / "data" / "sandbench.db"
    database.parent.mkdir(parents=True)
    database.write_text("this is not a database" * 100)
    result = cli("scenarios", "list")
    assert result.returncode == 1 and "the store failed" in result.stderr
    assert "Traceback" not in result.stderr


def test_samples_import_through_the_cli(capsys) -> None:
    code, out, err = run(capsys, "scenarios", "import", str(SAMPLES))
    assert code == 0, err
    assert len(out.splitlines()) >= 8
    code, out, _ = run(capsys, "scenarios", "import", str(SAMPLES))
    assert all(line.startswith("unchanged") for line in out.splitlines())
