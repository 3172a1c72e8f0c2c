"""The shared timeline widget on its own: buttons, slider and playback drive a step counter like a panel's session."""

from __future__ import annotations

from trm_lab.widgets.timeline import PAUSE, PLAY, Timeline


class Steps:
    """A stand-in for a panel's session: `length` steps, one selected, clamped like SolveSession.select."""

    def __init__(self, length: int):
        self.length, self.selected, self.picked = length, length - 1, []

    def where(self) -> tuple[int, int]:
        return self.selected, self.length

    def select(self, i: int) -> None:
        self.picked.append(i)
        self.selected = max(0, min(i, self.length - 1))


def test_buttons_slider_and_playback_move_through_the_steps(qtbot):
    steps = Steps(5)
    timeline = Timeline(steps.where, steps.select, play_tip="play", slider_tip="scrub", speeds=True)
    qtbot.addWidget(timeline)
    assert not timeline.slider.isEnabled() and not timeline.speed.isEnabled()
    timeline.set_active(True)
    timeline.show_step(steps.selected, steps.length)
    assert timeline.slider.maximum() == 4 and timeline.slider.value() == 4 and steps.picked == []
    timeline.prev_button.click()
    assert steps.selected == 3
    timeline.slider.setValue(1)
    assert steps.selected == 1
    timeline.next_button.click()
    assert steps.picked == [3, 1, 2]
    timeline.speed.setCurrentIndex(3)  # 8 steps a second
    timeline.start_playback()
    assert timeline.playing and timeline.play_button.text() == PAUSE and timeline.timer.interval() == 125
    qtbot.waitUntil(lambda: not timeline.timer.isActive(), timeout=3000)
    assert steps.selected == 4 and steps.picked[-2:] == [3, 4] and timeline.play_button.text() == PLAY
    timeline.toggle_play()  # at the end: playback starts again from the first step
    assert steps.picked[-1] == 0 and timeline.playing
    timeline.toggle_play()
    assert not timeline.playing and not timeline.timer.isActive()


def test_nothing_to_show_means_nothing_happens(qtbot):
    steps = Steps(0)
    timeline = Timeline(lambda: (-1, 0), steps.select, play_tip="", slider_tip="")
    qtbot.addWidget(timeline)
    assert timeline.speed is None and timeline.timer.interval() == 500
    timeline.step_by(1)
    timeline.start_playback()
    assert steps.picked == [] and not timeline.playing
