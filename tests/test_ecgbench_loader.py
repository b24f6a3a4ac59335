"""ECGBench loaders on fixture sets written in each subset's distributed format (Hugging Face
parquet) and in PULSE's folder layout, with pages rendered by our renderer from real LUDB records;
and the errors for malformed datasets."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from tests.conftest import shared_path
from tools.errors import InputError
from tools.record_io import read_record
from training.ecgbench.fixtures import fixture_rows, render_fixture_images, write_fixture_set
from training.ecgbench.loader import load_items, read_image
from training.ecgbench.subsets import SUBSETS

N_ITEMS = 4


@pytest.fixture(scope="module")
def pages() -> list[bytes]:
    """Two pages rendered at 50 DPI from LUDB records 1 and 2."""
    records = [read_record(shared_path("ludb", "data", f"{n}.hea")) for n in (1, 2)]
    return render_fixture_images(records, dpi=50)


def test_rendered_pages_are_ecg_image_kit_shaped_pngs(pages):
    image = Image.open(io.BytesIO(pages[0]))
    assert image.format == "PNG" and image.size == (550, 425)  # 11 x 8.5 in at 50 DPI


@pytest.mark.parametrize("layout", ["hf", "pulse"])
@pytest.mark.parametrize("subset", list(SUBSETS))
def test_every_subset_loads_in_both_layouts(tmp_path, pages, subset, layout):
    write_fixture_set(tmp_path, subset, pages, N_ITEMS, layout=layout, seed=5)
    items = load_items(tmp_path, subset)
    rows = fixture_rows(subset, N_ITEMS, seed=5)
    assert [item.id for item in items] == [row["id"] for row in rows]
    for index, (item, row) in enumerate(zip(items, rows, strict=True)):
        assert item.subset == subset and item.image_path == row["image_path"]
        assert read_image(item.image) == pages[index % len(pages)]
        turns = row["conversations"]
        if subset == "arena":
            assert [(t.question, t.answer) for t in item.turns] == \
                [(t["question"].removeprefix("<image>\n"), t["answer"]) for t in turns]
        elif subset == "ecgqa":
            assert item.question == turns[0]["value"][0].removeprefix("<image>\n")
            assert item.answer_list == tuple(turns[1]["value"])
        else:
            assert (item.question, item.answer) == (turns[0]["value"].removeprefix("<image>\n"), turns[1]["value"])
            assert "<image>" not in item.question


def test_parquet_columns_are_the_distributions(tmp_path, pages):
    string = pa.string()
    expected_turns = {
        "ptb-xl-super": pa.struct([("from", string), ("value", string)]),
        "ecgqa": pa.struct([("from", string), ("value", pa.list_(string))]),
        "arena": pa.struct([("question", string), ("answer", string)]),
    }
    for subset, turn_type in expected_turns.items():
        path = write_fixture_set(tmp_path, subset, pages, 2)
        schema = pq.read_schema(path)
        assert path.relative_to(tmp_path).as_posix() == f"{SUBSETS[subset].config}/test-00000-of-00001.parquet"
        assert schema.names == ["id", "image_path", "image", "conversations"]
        assert schema.field("image").type == pa.struct([("bytes", pa.binary()), ("path", string)])
        assert schema.field("conversations").type == pa.list_(turn_type)
        assert json.loads(schema.metadata[b"huggingface"])["info"]["features"]["image"] == {"_type": "Image"}


def test_pulse_layout_is_a_json_list_with_images_beside(tmp_path, pages):
    path = write_fixture_set(tmp_path, "csn", pages, 3, layout="pulse")
    rows = json.loads(path.read_text())
    assert path.name == "csn-test-no-cot.json" and set(rows[0]) == {"id", "image", "conversations"}
    assert (tmp_path / "images" / rows[2]["image"]).read_bytes() == pages[0]
    assert load_items(path, "csn")[2].answer[:1] in "ABCDEFGH"  # a file path loads as well


def _write_json(tmp_path, rows) -> None:
    (tmp_path / "ptb-test.json").write_text(json.dumps(rows))


def test_missing_fields_name_the_row_and_field(tmp_path):
    good = {"id": "a1", "image": "ptb-xl/a1.png",
            "conversations": [{"from": "human", "value": "<image>\nq"}, {"from": "gpt", "value": "NORM"}]}
    cases = [
        ([{k: v for k, v in good.items() if k != "id"}], "row 0: field 'id'"),
        ([{k: v for k, v in good.items() if k != "conversations"}], "id 'a1': field 'conversations'"),
        ([{k: v for k, v in good.items() if k != "image"}], "id 'a1': field 'image'"),
        ([{**good, "conversations": [{"from": "human", "value": "q"}]}], "id 'a1': field 'conversations' needs"),
        ([good, good], "id 'a1' appears twice"),
        ([], "has no rows"),
    ]
    for rows, message in cases:
        _write_json(tmp_path, rows)
        with pytest.raises(InputError, match=message):
            load_items(tmp_path, "ptb-xl-super")


def test_absent_subset_unknown_subset_and_missing_image(tmp_path):
    with pytest.raises(InputError, match="no ECGBench subset 'cpsc-test'"):
        load_items(tmp_path, "cpsc")
    with pytest.raises(InputError, match="unknown ECGBench subset"):
        load_items(tmp_path, "ptb-xl")
    _write_json(tmp_path, [{"id": "a1", "image": "ptb-xl/a1.png", "conversations": [
        {"from": "human", "value": "<image>\nq"}, {"from": "gpt", "value": "NORM"}]}])
    with pytest.raises(InputError, match="a1.png does not exist"):
        read_image(load_items(tmp_path, "ptb-test")[0].image)


def test_unreadable_files_are_input_errors(tmp_path):
    (tmp_path / "ptb-test.json").write_text("[{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        load_items(tmp_path, "ptb-xl-super")
    bad = tmp_path / "mmmu-ecg" / "test-00000-of-00001.parquet"
    bad.parent.mkdir()
    bad.write_bytes(b"PAR1 garbage")
    with pytest.raises(InputError, match="not a readable parquet file"):
        load_items(tmp_path, "mmmu-ecg")


def test_images_are_found_across_parquet_row_groups(tmp_path):
    pngs = []
    for shade in (0, 120, 250):
        buffer = io.BytesIO()
        Image.new("RGB", (4, 4), (shade, shade, shade)).save(buffer, format="PNG")
        pngs.append(buffer.getvalue())
    path = write_fixture_set(tmp_path, "mmmu-ecg", pngs, 205)
    assert pq.ParquetFile(path).metadata.num_row_groups == 3
    items = load_items(tmp_path, "mmmu-ecg")
    for index in (0, 99, 100, 101, 204, 7):
        assert read_image(items[index].image) == pngs[index % 3], index
