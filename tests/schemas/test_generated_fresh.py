import json
import shutil
from pathlib import Path

import yaml
from typer.testing import CliRunner

from schemas.cli import schemas_app
from schemas.generate import GENERATED_DIR, TOPICS, render, stale_files
from streams.channels import (
    ALL_TOPICS,
    ANALYTICS_FACTS,
    WALLET_COMMANDS,
    WALLET_REPLIES,
)

# Every topic but the workers' internal ones is a published contract (order-disputes
# included: its model, tables.after_capture.DisputeChanged, is the order table's own view).
CONTRACT_TOPICS = set(ALL_TOPICS) - {WALLET_COMMANDS, WALLET_REPLIES, ANALYTICS_FACTS}


def test_generated_files_are_fresh() -> None:
    stale = stale_files(GENERATED_DIR)
    assert stale == [], (
        f"schemas/generated is stale ({', '.join(stale)}); "
        "run `.venv/bin/python -m schemas.cli generate`"
    )


def test_rendering_is_deterministic() -> None:
    assert render() == render()


def test_asyncapi_lists_every_topic_and_the_queue() -> None:
    doc = yaml.safe_load(render()["asyncapi.yaml"])
    assert doc["asyncapi"].startswith("2.6")
    assert set(TOPICS) == CONTRACT_TOPICS
    assert CONTRACT_TOPICS | {"payment-requests.fifo"} <= set(doc["channels"])
    for name, channel in doc["channels"].items():
        ref = channel["subscribe"]["message"]["$ref"]
        message = doc["components"]["messages"][ref.rsplit("/", 1)[1]]
        schema_name = message["payload"]["$ref"].rsplit("/", 1)[1]
        assert schema_name in doc["components"]["schemas"], name
    assert "$defs" not in render()["asyncapi.yaml"]


def test_json_schemas_are_valid_json_with_ids() -> None:
    for name, content in render().items():
        if name.endswith(".json"):
            assert json.loads(content)["$id"] == name


def test_check_flag_fails_on_stale_output(tmp_path: Path) -> None:
    out = tmp_path / "generated"
    shutil.copytree(GENERATED_DIR, out)
    runner = CliRunner()
    assert runner.invoke(schemas_app, ["generate", "--check", "--out", str(out)]).exit_code == 0
    (out / "money.schema.json").write_text("{}\n")
    (out / "leftover.schema.json").write_text("{}\n")
    result = runner.invoke(schemas_app, ["generate", "--check", "--out", str(out)])
    assert result.exit_code == 1
    assert runner.invoke(schemas_app, ["generate", "--out", str(out)]).exit_code == 0
    assert stale_files(out) == []
    assert not (out / "leftover.schema.json").exists()
