"""The bridge from runner threads to the app's loop: batched, ordered, and bounded."""

from __future__ import annotations

from textual.message import Message

from sandbench.runner.events import OutputChunk, ScorerStarted, StepOutput
from sandbench.tui.messages import EventBridge, RunEventsPending


class Target:
    def __init__(self) -> None:
        self.posted: list[Message] = []

    def post_message(self, message: Message) -> bool:
        self.posted.append(message)
        return True


def chunk(result: str, number: int, width: int = 99) -> OutputChunk:
    return OutputChunk("scr_1", result, result, "stdout", f"{number:0{width}d}\n")


def test_one_message_per_batch_and_order_kept() -> None:
    target = Target()
    bridge = EventBridge(target)  # type: ignore[arg-type]
    events = [StepOutput("scr_1", "sandbox", "stdout", "up\n"), chunk("a", 1), chunk("a", 2)]
    for event in events:
        bridge(event)
    assert [type(m) for m in target.posted] == [RunEventsPending]
    assert bridge.drain() == events
    bridge(chunk("a", 3))
    assert len(target.posted) == 2  # a new batch, a new message


def test_output_piling_up_is_dropped_oldest_first_with_a_note_in_its_place() -> None:
    target = Target()
    bridge = EventBridge(target, max_output=2_000)  # type: ignore[arg-type]
    started = ScorerStarted("scr_1", "a", "a", "command_scorer", 1.0, 1)
    bridge(started)
    for number in range(100):  # 100 lines of 100 characters: 10,000 characters
        bridge(chunk("a", number))
    other = StepOutput("scr_1", "note", "stdout", "kept\n")
    bridge(other)
    events = bridge.drain()
    assert events[0] == started and events[-1] == other  # nothing but output is dropped
    note = events[1]
    assert isinstance(note, OutputChunk) and note.result_id == "a"
    dropped = int(note.text.split()[1].replace(",", ""))
    assert "lines not drawn" in note.text and dropped > 0
    shown = [e for e in events[2:-1] if isinstance(e, OutputChunk)]
    assert [int(e.text) for e in shown] == list(range(dropped, 100))  # the newest, in order
    assert sum(len(e.text) for e in shown) <= 2_000
